"""Attach programs to network devices through libbpf's netlink calls: XDP and TC clsact.

Both kinds of attachment outlive the process (that is how a restarted agent can take over
its predecessor's programs without a gap): callers detach explicitly. XDP attaches with
UPDATE_IF_NOEXIST or REPLACE against an expected program, so a program someone else put on a
device is never overwritten by accident; TC filters live at a fixed (handle, priority).
"""
from __future__ import annotations

import errno
from ctypes import byref
from typing import Optional, Tuple

from .libbpf import BpfError, TcHook, TcOpts, XdpAttachOpts, XdpQueryOpts, check, lib, quiet

XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
XDP_FLAGS_HW_MODE = 1 << 3
XDP_FLAGS_REPLACE = 1 << 4
_MODE_FLAGS = {1: XDP_FLAGS_DRV_MODE, 2: XDP_FLAGS_SKB_MODE, 3: XDP_FLAGS_HW_MODE}
MODE_NAMES = {XDP_FLAGS_DRV_MODE: "native", XDP_FLAGS_SKB_MODE: "generic", XDP_FLAGS_HW_MODE: "offload", 0: ""}

TC_INGRESS, TC_EGRESS = 1 << 0, 1 << 1
BPF_TC_F_REPLACE = 1 << 0
_GONE = (errno.ENODEV, errno.ENOENT, errno.EINVAL)  # device or filter no longer there


def xdp_query(ifindex: int) -> Tuple[int, int]:
    """(program id, mode flag) of the XDP program on a device; (0, 0) when none."""
    opts = XdpQueryOpts()
    check(lib.bpf_xdp_query(ifindex, 0, byref(opts)), f"xdp query ifindex {ifindex}")
    if opts.attach_mode == 4:  # several modes at once: report the native one first
        return (opts.drv_prog_id, XDP_FLAGS_DRV_MODE) if opts.drv_prog_id else (opts.skb_prog_id, XDP_FLAGS_SKB_MODE)
    return opts.prog_id, _MODE_FLAGS.get(opts.attach_mode, 0)


def xdp_attach(ifindex: int, prog_fd: int, replace_fd: Optional[int] = None, mode: int = 0) -> None:
    """Attach only if the device has no XDP program, or atomically replace `replace_fd`.

    `mode` 0 lets the kernel pick native XDP where the driver has it, generic otherwise.
    EEXIST/EBUSY means another program got there first: the caller falls back.
    """
    if replace_fd is None:
        rc = lib.bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_UPDATE_IF_NOEXIST | mode, None)
    else:
        rc = lib.bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_REPLACE | mode, byref(XdpAttachOpts(old_prog_fd=replace_fd)))
    check(rc, f"xdp attach ifindex {ifindex}")


def xdp_detach(ifindex: int, prog_fd: int, mode: int) -> bool:
    """Detach `prog_fd` from a device only if it is still the one attached there."""
    rc = lib.bpf_xdp_detach(ifindex, XDP_FLAGS_REPLACE | mode, byref(XdpAttachOpts(old_prog_fd=prog_fd)))
    if -rc in _GONE or rc == -errno.EEXIST:  # device gone, or no longer ours
        return False
    check(rc, f"xdp detach ifindex {ifindex}")
    return True


def _hook(ifindex: int, point: int) -> TcHook:
    return TcHook(ifindex=ifindex, attach_point=point)


def tc_attach(ifindex: int, point: int, prog_fd: int, handle: int, priority: int, replace: bool = False) -> None:
    """Add (or replace) a direct-action filter at (handle, priority), creating clsact if needed."""
    hook = _hook(ifindex, point)
    with quiet():  # EEXIST (clsact already there) is the usual answer
        rc = lib.bpf_tc_hook_create(byref(hook))
    if rc < 0 and rc != -errno.EEXIST:
        check(rc, f"clsact on ifindex {ifindex}")
    opts = TcOpts(prog_fd=prog_fd, handle=handle, priority=priority, flags=BPF_TC_F_REPLACE if replace else 0)
    check(lib.bpf_tc_attach(byref(hook), byref(opts)), f"tc attach ifindex {ifindex}")


def tc_query(ifindex: int, point: int, handle: int, priority: int) -> int:
    """The program id of the filter at (handle, priority); 0 when there is none."""
    opts = TcOpts(handle=handle, priority=priority)
    rc = lib.bpf_tc_query(byref(_hook(ifindex, point)), byref(opts))
    if -rc in _GONE:
        return 0
    check(rc, f"tc query ifindex {ifindex}")
    return opts.prog_id


def tc_detach(ifindex: int, point: int, handle: int, priority: int) -> bool:
    rc = lib.bpf_tc_detach(byref(_hook(ifindex, point)), byref(TcOpts(handle=handle, priority=priority)))
    if -rc in _GONE:
        return False
    check(rc, f"tc detach ifindex {ifindex}")
    return True


__all__ = ["BpfError", "xdp_query", "xdp_attach", "xdp_detach", "tc_attach", "tc_query", "tc_detach",
           "TC_INGRESS", "TC_EGRESS", "MODE_NAMES", "XDP_FLAGS_SKB_MODE"]
