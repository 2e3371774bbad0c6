"""Pure functions: metric families -> the Prometheus text format 0.0.4 or OpenMetrics 1.0.

prometheus_client's own exposition validates and escapes every label of every sample;
with ~8,000 samples per scrape (64 ports x 22 probe classes x 2 directions x 2) that alone
takes longer than the scrape budget. Here each distinct label value is escaped once per
scrape (a port's labels recur in every family), which keeps a scrape to a few ms.
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, List, Tuple

from prometheus_client.core import Metric

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def wants_openmetrics(accept: str) -> bool:
    """Same rule as prometheus_client.exposition.choose_encoder."""
    return any(part.split(";")[0].strip() == "application/openmetrics-text" for part in accept.split(","))


def render(families: Iterable[Metric], openmetrics: bool) -> bytes:
    pairs: Dict[Tuple[str, str], str] = {}  # (label, value) -> 'label="escaped value"'
    lines: List[str] = []
    for family in families:
        header = family.name if openmetrics or family.type != "counter" else family.name + "_total"
        lines.append(f"# HELP {header} {_escape_help(family.documentation, openmetrics)}\n"
                     f"# TYPE {header} {family.type}\n")
        for sample in family.samples:
            if sample.labels:
                texts = []
                for item in sample.labels.items():
                    text = pairs.get(item)
                    if text is None:
                        text = pairs[item] = f'{item[0]}="{_escape_value(item[1])}"'
                    texts.append(text)
                lines.append(f"{sample.name}{{{','.join(texts)}}} {_number(sample.value)}\n")
            else:
                lines.append(f"{sample.name} {_number(sample.value)}\n")
    if openmetrics:
        lines.append("# EOF\n")
    return "".join(lines).encode()


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str, openmetrics: bool) -> str:
    text = text.replace("\\", r"\\").replace("\n", r"\n")
    return text.replace('"', r"\"") if openmetrics else text


def _number(value) -> str:
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 2 ** 53:
        return str(int(value))
    if math.isfinite(value):
        return str(int(value)) if value.is_integer() and abs(value) < 2 ** 53 else repr(value)
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
