"""Probes a killed agent left attached: found by program name on every device, removed.

XDP and TC attachments made through netlink outlive their process, so after a SIGKILL the
programs keep counting into the pinned maps. The next ProbeManager finds them here, replaces
them in place on the ports it still wants and removes them (`remove`) everywhere else.
"""
from __future__ import annotations

import logging
import os
import socket
from typing import Dict

from ..bpf import BpfError
from ..bpf import netattach as na
from ..bpf.libbpf import quiet
from ..bpf.objects import prog_fd_by_id, prog_named
from . import kernel as k

log = logging.getLogger("telegen.probes")


def find() -> Dict[int, Dict[str, int]]:
    """ifindex -> {"xdp"|"tc_in"|"tc_eg": program id} for our programs in this namespace."""
    found: Dict[int, Dict[str, int]] = {}
    for ifindex, name in socket.if_nameindex():
        try:
            with quiet():  # most devices have no clsact qdisc: libbpf's complaint is the answer
                progs = {"xdp": na.xdp_query(ifindex)[0],
                         "tc_in": na.tc_query(ifindex, na.TC_INGRESS, k.TC_HANDLE, k.TC_PRIORITY),
                         "tc_eg": na.tc_query(ifindex, na.TC_EGRESS, k.TC_HANDLE, k.TC_PRIORITY)}
        except BpfError:
            continue  # device went away meanwhile
        progs = {hook: pid for hook, pid in progs.items() if prog_named(pid, k.PROG_PREFIX)}
        if progs:
            found[ifindex] = progs
            log.info("found probes of a previous instance", extra={"port": name, "programs": progs})
    return found


def remove(ifindex: int, progs: Dict[str, int]) -> None:
    try:
        if "xdp" in progs:
            fd = prog_fd_by_id(progs["xdp"])
            try:
                na.xdp_detach(ifindex, fd, na.xdp_query(ifindex)[1])
            finally:
                os.close(fd)
        for hook, point in (("tc_in", na.TC_INGRESS), ("tc_eg", na.TC_EGRESS)):
            if hook in progs:
                na.tc_detach(ifindex, point, k.TC_HANDLE, k.TC_PRIORITY)
    except BpfError as exc:
        log.error("removing a previous instance's probes failed", extra={"ifindex": ifindex, "error": str(exc)})
