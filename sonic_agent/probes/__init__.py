"""eBPF port probes: per port, direction and class, what reaches and leaves the switch CPU.

The kernel side is bpf/port_probe.bpf.c (one CO-RE object for every port, loaded through
libbpf); `ProbeManager` attaches it following the model and reads its maps into records.
"""
from .manager import ProbeManager
from .reader import ProbeMaps

__all__ = ["ProbeManager", "ProbeMaps"]
