"""One catalogue of every metric the agent exports, driving the Prometheus, OTLP and gNMI
encoders and README's metric and path tables (`python -m sonic_agent.catalogue.docs`).

`CATALOGUE` holds the entries in export order: the switch's families, the port probes', the
mirror decoder's, then the agent's own. Adding a counter is adding one `Metric` here (and, for
a new source, its reader); see `model` for what an entry says.
"""
from __future__ import annotations

from . import agent, mirror, probes, switch
from .model import COUNTER, GAUGE, HISTOGRAM, INFO, KINDS, STATE, Catalogue, Entity, Key, Metric, Point, Source

CATALOGUE = Catalogue(switch.metrics() + probes.metrics() + mirror.metrics() + agent.metrics())

__all__ = ["CATALOGUE", "COUNTER", "GAUGE", "HISTOGRAM", "INFO", "KINDS", "STATE", "Catalogue", "Entity", "Key",
           "Metric", "Point", "Source"]
