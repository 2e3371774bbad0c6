"""Attach an XDP program to a device: take over a program of ours, refuse anyone else's.

One rule for every XDP user of the agent (the port probes, the mirror decoder). A program
on the device whose name starts with the caller's prefix is ours: a killed agent's, still
counting. It is replaced atomically (REPLACE against that very program, in the mode it runs
in), so nothing goes uncounted in between. Any other program is refused with a BpfError
naming it, and left where it is. A free device gets native XDP where the driver takes it,
generic XDP otherwise (e.g. a veth whose MTU is too large for native XDP).
"""
from __future__ import annotations

import errno
import logging
import os
import socket
from dataclasses import dataclass

from . import netattach as na
from .libbpf import BpfError, quiet
from .objects import prog_fd_by_id, prog_name_by_id

log = logging.getLogger("telegen.bpf")
_TAKEN = (errno.EEXIST, errno.EBUSY)  # another program got there first


@dataclass
class XdpAttachment:
    ifindex: int
    prog_fd: int
    mode: int  # netattach XDP_FLAGS_*_MODE the program runs in
    replaced: int = 0  # id of the program of ours it replaced, 0 if the device was free

    def detach(self) -> bool:
        """Take the program off, if it is still the one attached there."""
        return na.xdp_detach(self.ifindex, self.prog_fd, self.mode)


def _device(ifindex: int) -> str:
    try:
        return socket.if_indextoname(ifindex)
    except OSError:
        return f"ifindex {ifindex}"


def _foreign(ifindex: int, prog_id: int, code: int = errno.EEXIST) -> BpfError:
    return BpfError(code, f"{_device(ifindex)} already has XDP program {prog_id} "
                          f"({prog_name_by_id(prog_id) or 'gone'}): not replacing it")


def attach_xdp(ifindex: int, prog_fd: int, prefix: str, mode: int = 0) -> XdpAttachment:
    """Attach `prog_fd` to a device of the calling thread's network namespace. `mode` 0: native,
    else generic; a netattach mode flag forces that mode (a program of ours keeps its own)."""
    prog_id, current_mode = na.xdp_query(ifindex)
    name = prog_name_by_id(prog_id) if prog_id else None
    if name is not None and not name.startswith(prefix):
        raise _foreign(ifindex, prog_id)
    if name is not None:
        old_fd = prog_fd_by_id(prog_id)
        try:
            na.xdp_attach(ifindex, prog_fd, replace_fd=old_fd, mode=current_mode)
        except BpfError as exc:
            if exc.errno not in _TAKEN:
                raise
            raise _foreign(ifindex, na.xdp_query(ifindex)[0], exc.errno) from None
        finally:
            os.close(old_fd)
        log.info("XDP program of a previous instance replaced", extra={"ifindex": ifindex, "program": name})
        return XdpAttachment(ifindex, prog_fd, na.xdp_query(ifindex)[1], prog_id)
    try:
        with quiet():  # a refusal of native XDP is logged below, once, with its reason
            na.xdp_attach(ifindex, prog_fd, mode=mode)
    except BpfError as exc:
        if exc.errno in _TAKEN:
            raise _foreign(ifindex, na.xdp_query(ifindex)[0], exc.errno) from None
        if mode:
            raise
        log.info("native XDP refused, using generic XDP", extra={"ifindex": ifindex, "reason": str(exc)})
        try:
            na.xdp_attach(ifindex, prog_fd, mode=na.XDP_FLAGS_SKB_MODE)
        except BpfError as again:
            if again.errno in _TAKEN:
                raise _foreign(ifindex, na.xdp_query(ifindex)[0], again.errno) from None
            raise
    return XdpAttachment(ifindex, prog_fd, na.xdp_query(ifindex)[1])


__all__ = ["XdpAttachment", "attach_xdp"]
