"""README's metric and path tables, written from the catalogue (so they cannot drift from it).

`python -m sonic_agent.catalogue.docs README.md` rewrites every block between
`<!-- catalogue:NAME -->` and `<!-- /catalogue:NAME -->` (NAME: prometheus, agent, otlp, gnmi);
`--check` exits 1 when README differs (tests/test_catalogue.py runs it).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Dict, List

from . import CATALOGUE, COUNTER, HISTOGRAM, INFO, STATE, Catalogue, Metric
from .agent import AGENT, COUNTERS, PROMETHEUS_COUNTERS

BLOCK = re.compile(r"(<!-- catalogue:(\w+) -->\n)(.*?)(<!-- /catalogue:\2 -->)", re.S)


def _families(metrics, name_of) -> Dict[str, List[Metric]]:
    out: Dict[str, List[Metric]] = {}
    for m in metrics:
        if name_of(m):
            out.setdefault(name_of(m), []).append(m)
    return out


def _fixed(group: List[Metric], attr: str) -> List[str]:
    """Fixed labels of a family's entries, with their values: `direction` (rx, tx)."""
    values: Dict[str, List[str]] = {}
    for m in group:
        for k, v in getattr(m, attr):
            values.setdefault(k, [])
            if v not in values[k]:
                values[k].append(str(v))
    return [f"{k} ({', '.join(v)})" for k, v in values.items()]


def _sources(group: List[Metric]) -> str:
    """Where a family is read, fields grouped by table: `COUNTERS_DB COUNTERS: A, B`."""
    tables: Dict[str, List[str]] = {}
    for m in group:
        fields = tables.setdefault(" ".join(p for p in (m.source.where, m.source.table) if p), [])
        if m.source.field and m.source.field not in fields:
            fields.append(m.source.field)
    return "; ".join(f"{table}: {', '.join(fields)}" if fields else table for table, fields in tables.items())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def prometheus(catalogue: Catalogue) -> str:
    rows = ["| metric | type | labels | source | meaning |", "| --- | --- | --- | --- | --- |"]
    for name, group in _families(catalogue, lambda m: m.prom if m.entity is not AGENT else None).items():
        first = group[0]
        labels = first.entity.prom_labels + _fixed(group, "prom_labels") + [m.info_label for m in group if m.info_label]
        if first.kind == HISTOGRAM:
            shown, kind = f"`{name}` (`_bucket`, `_count`, `_sum`)", "histogram"
        elif first.kind == COUNTER:
            shown, kind = f"`{name}_total`", "counter"
        else:
            shown = f"`{name}`"
            kind = "gauge 1 (info)" if first.kind == INFO or name.endswith("_info") else "gauge"
        rows.append(f"| {shown} | {kind} | {', '.join(labels)} | {_cell(_sources(group))} | {_cell(first.help)} |")
    for m in PROMETHEUS_COUNTERS:
        rows.append(f"| `{m.prom}_total` | counter | | the exporter | {m.help} |")
    rows.append("| `telegen_agent_<name>` | gauge, or counter for `_total` names | | the agent | "
                "its own counters: the table below |")
    return "\n".join(rows) + "\n"


def agent(_catalogue: Catalogue) -> str:
    rows = ["| name | type | part | meaning |", "| --- | --- | --- | --- |"]
    rows += [f"| `{name}` | {'counter' if name.endswith('_total') else 'gauge'} | {part} | {help} |"
             for name, part, help in COUNTERS]
    return "\n".join(rows) + "\n"


def otlp(catalogue: Catalogue) -> str:
    kinds = {COUNTER: "counter", STATE: "updowncounter", HISTOGRAM: "histogram"}
    rows = ["| metric | kind, unit | attributes | source |", "| --- | --- | --- | --- |"]
    for name, group in _families(catalogue, lambda m: m.otel if m.entity is not AGENT and m.kind != INFO
                                 else None).items():
        first = group[0]
        attrs = []
        for key in first.entity.keys:
            if key.otel:
                attrs.append(key.otel + (", sonic.port.alias, sonic.namespace" if key.port else ""))
        attrs += [f"{k}={v}" for k, v in first.entity.otel_attrs] + _fixed(group, "otel_attrs")
        rows.append(f"| `{name}` | {kinds.get(first.kind, 'gauge')}, {first.unit} | {', '.join(attrs)} | "
                    f"{_cell(_sources(group))} |")
    rows.append("| `telegen.agent.<name>` | counter for `_total` names (suffix dropped), else gauge | | the agent's own "
                "counters |")
    return "\n".join(rows) + "\n"


def _shown(template: str) -> str:
    return re.sub(r"=\{(\w+)\}", r"=<\1>", template)


def gnmi(catalogue: Catalogue) -> str:
    parents: Dict[str, List[str]] = {}
    for m in catalogue:
        if not m.gnmi or m.entity is AGENT:
            continue
        if m.kind == HISTOGRAM:
            parents.setdefault(_shown(m.gnmi), []).extend(["high", "packets"])
            continue
        parent, _, leaf = m.gnmi.rpartition("/")
        parents.setdefault(_shown(parent), []).append(leaf)
    lines = []
    for parent, leaves in parents.items():
        leaves = list(dict.fromkeys(leaves))
        lines.append(f"{parent}/{leaves[0]}" if len(leaves) == 1 else f"{parent}/{{{','.join(leaves)}}}")
    lines.append("/telegen/agent/state/<name>          (the agent's own counters, _ written -)")
    return "```\n" + "\n".join(lines) + "\n```\n"


WRITERS = {"prometheus": prometheus, "agent": agent, "otlp": otlp, "gnmi": gnmi}


def rewrite(text: str, catalogue: Catalogue = CATALOGUE) -> str:
    def block(m: re.Match) -> str:
        return m.group(1) + WRITERS[m.group(2)](catalogue) + m.group(4)
    return BLOCK.sub(block, text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("readme", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the catalogue")
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    new = rewrite(text)
    if args.check:
        if new != text:
            print(f"{args.readme}: metric tables differ from the catalogue; run python -m sonic_agent.catalogue.docs "
                  f"{args.readme}", file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
