"""Policies: thresholds on budget remaining and multi-window burn-rate alerts, with hysteresis.

A budget threshold fires once when budget remaining drops to its `below` or under, and can fire
again only after remaining has recovered to `below + hysteresis`; a burn alert fires once when
both its windows burn faster than its factor, and re-arms when either drops below
factor x (1 - hysteresis). Re-arming fires nothing. Several thresholds crossed at once fire
in order, the highest first (50 %, then 25 %, then 0 %). The level is how many budget
thresholds are fired now; its name is the last one's ("ok" when none is).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Sequence, Tuple

from .spec import BurnAlertConfig, PolicyConfig, duration_text, seconds

BUDGET_EVENT, BURN_EVENT = "slo.budget.threshold", "slo.burn_rate.alert"
OK = "ok"


@dataclass(frozen=True)
class BurnAlert:
    name: str
    long_s: float
    short_s: float
    factor: float
    actions: Tuple[str, ...] = ("log",)

    @property
    def key(self) -> str:
        return f"{self.name}:{duration_text(self.long_s)}/{duration_text(self.short_s)}"


def burn_alerts(configs: Sequence[BurnAlertConfig]) -> List[BurnAlert]:
    return [BurnAlert(a.name, seconds(a.long, "long"), seconds(a.short, "short"), a.factor, tuple(a.actions))
            for a in configs]


@dataclass
class Fired:
    """What a policy set has fired and not yet re-armed (persisted with the history)."""

    budget: Dict[str, bool] = field(default_factory=dict)  # policy name -> fired
    burn: Dict[str, bool] = field(default_factory=dict)  # burn alert key -> fired


class Policies:
    def __init__(self, policies: Sequence[PolicyConfig], alerts: Sequence[BurnAlert], hysteresis: float):
        self.policies = sorted(policies, key=lambda p: -p.below)
        self.alerts, self.hysteresis = list(alerts), hysteresis

    def level(self, fired: Fired) -> Tuple[int, str]:
        on = [p.name for p in self.policies if fired.budget.get(p.name)]
        return len(on), (on[-1] if on else OK)

    def update(self, fired: Fired, remaining: float, burn: Mapping[float, float]) -> List[Tuple[str, object]]:
        """The events this evaluation fires, in order: (BUDGET_EVENT, PolicyConfig) or (BURN_EVENT, BurnAlert)."""
        out: List[Tuple[str, object]] = []
        for p in self.policies:
            if fired.budget.get(p.name):
                if remaining >= p.below + self.hysteresis:
                    fired.budget[p.name] = False
            elif remaining <= p.below:
                fired.budget[p.name] = True
                out.append((BUDGET_EVENT, p))
        for a in self.alerts:
            long_rate, short_rate = burn.get(a.long_s, 0.0), burn.get(a.short_s, 0.0)
            if fired.burn.get(a.key):
                if min(long_rate, short_rate) < a.factor * (1 - self.hysteresis):
                    fired.burn[a.key] = False
            elif long_rate > a.factor and short_rate > a.factor:
                fired.burn[a.key] = True
                out.append((BURN_EVENT, a))
        return out
