"""One catalogue of every metric the agent exports, driving the Prometheus, OTLP and gNMI
encoders and README's metric and path tables (`python -m sonic_agent.catalogue.docs`).

`CATALOGUE` holds the entries in export order: the switch's families (ports, then the platform,
routing, resources, SONiC's software and the host), the port probes', the mirror decoder's,
the SLO engine's, then the agent's own. Adding a counter is adding one `Metric` here (and, for
a new source, its reader); see `model` for what an entry says.
"""
from __future__ import annotations

from .model import COUNTER, GAUGE, HISTOGRAM, INFO, KINDS, STATE, Catalogue, Entity, Key, Metric, Point, Source, Table

from . import agent, host, mirror, platform, probes, resources, routing, slo, switch, system  # noqa: E402 (they use .model)

CATALOGUE = Catalogue(switch.metrics() + platform.metrics() + routing.metrics() + resources.metrics() +
                      system.metrics() + host.metrics() + probes.metrics() + mirror.metrics() + slo.metrics() +
                      agent.health_metrics() +
                      agent.metrics())

__all__ = ["CATALOGUE", "COUNTER", "GAUGE", "HISTOGRAM", "INFO", "KINDS", "STATE", "Catalogue", "Entity", "Key",
           "Metric", "Point", "Source", "Table"]
