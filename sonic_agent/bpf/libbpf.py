"""ctypes declarations for the parts of Debian's libbpf.so.1 (1.1) the agent calls.

Only prototypes and the option structs live here; `objects.py` and `netattach.py` build the
Python API on top. libbpf 1.x returns a negative errno from int functions and NULL (errno
set) from pointer functions; `check` and `check_ptr` turn both into `BpfError`.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno as _errno
import logging
import os
import threading
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char_p, c_int, c_size_t, c_uint8,
                    c_uint32, c_uint64, c_void_p)

log = logging.getLogger("telegen.bpf")


class BpfError(OSError):
    """A libbpf call failed; errno and the call are kept for callers that branch on them."""


def _load() -> ctypes.CDLL:
    try:
        return ctypes.CDLL("libbpf.so.1", use_errno=True)
    except OSError:
        raise BpfError(_errno.ENOENT, "libbpf.so.1 not found (Debian package libbpf1)") from None


lib = _load()
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _opts(*fields):
    """An `*_opts` struct: `sz` first, filled in by the constructor as libbpf requires."""

    class Opts(Structure):
        _fields_ = [("sz", c_size_t), *fields]

        def __init__(self, **kw):
            super().__init__(sz=ctypes.sizeof(self), **kw)

    return Opts


XdpAttachOpts = _opts(("old_prog_fd", c_int))
XdpQueryOpts = _opts(("prog_id", c_uint32), ("drv_prog_id", c_uint32), ("hw_prog_id", c_uint32),
                     ("skb_prog_id", c_uint32), ("attach_mode", c_uint8))
TcHook = _opts(("ifindex", c_int), ("attach_point", c_int), ("parent", c_uint32))
TcOpts = _opts(("prog_fd", c_int), ("flags", c_uint32), ("prog_id", c_uint32), ("handle", c_uint32),
               ("priority", c_uint32))
MapBatchOpts = _opts(("elem_flags", c_uint64), ("flags", c_uint64))
TestRunOpts = _opts(("data_in", c_void_p), ("data_out", c_void_p), ("data_size_in", c_uint32),
                    ("data_size_out", c_uint32), ("ctx_in", c_void_p), ("ctx_out", c_void_p),
                    ("ctx_size_in", c_uint32), ("ctx_size_out", c_uint32), ("retval", c_uint32),
                    ("repeat", c_int), ("duration", c_uint32), ("flags", c_uint32), ("cpu", c_uint32),
                    ("batch_size", c_uint32))


class ProgInfo(Structure):
    """The leading fields of the kernel's struct bpf_prog_info (the kernel fills what fits)."""

    _fields_ = [("type", c_uint32), ("id", c_uint32), ("tag", c_uint8 * 8), ("jited_prog_len", c_uint32),
                ("xlated_prog_len", c_uint32), ("jited_prog_insns", c_uint64), ("xlated_prog_insns", c_uint64),
                ("load_time", c_uint64), ("created_by_uid", c_uint32), ("nr_map_ids", c_uint32),
                ("map_ids", c_uint64), ("name", ctypes.c_char * 16)]


class MapInfo(Structure):
    """The leading fields of the kernel's struct bpf_map_info."""

    _fields_ = [("type", c_uint32), ("id", c_uint32), ("key_size", c_uint32), ("value_size", c_uint32),
                ("max_entries", c_uint32), ("map_flags", c_uint32), ("name", ctypes.c_char * 16),
                ("ifindex", c_uint32), ("btf_vmlinux_value_type_id", c_uint32), ("netns_dev", c_uint64),
                ("netns_ino", c_uint64), ("btf_id", c_uint32), ("btf_key_type_id", c_uint32),
                ("btf_value_type_id", c_uint32)]


class BtfType(Structure):
    _fields_ = [("name_off", c_uint32), ("info", c_uint32), ("size", c_uint32)]


class BtfEnum(Structure):
    _fields_ = [("name_off", c_uint32), ("val", ctypes.c_int32)]


_PROTOS = {
    # object, programs, maps
    "bpf_object__open_file": (c_void_p, [c_char_p, c_void_p]),
    "bpf_object__load": (c_int, [c_void_p]),
    "bpf_object__close": (None, [c_void_p]),
    "bpf_object__find_program_by_name": (c_void_p, [c_void_p, c_char_p]),
    "bpf_object__find_map_by_name": (c_void_p, [c_void_p, c_char_p]),
    "bpf_program__fd": (c_int, [c_void_p]),
    "bpf_program__set_autoload": (c_int, [c_void_p, c_bool]),
    "bpf_program__attach": (c_void_p, [c_void_p]),
    "bpf_link__destroy": (c_int, [c_void_p]),
    "bpf_map__fd": (c_int, [c_void_p]),
    "bpf_map__set_max_entries": (c_int, [c_void_p, c_uint32]),
    "bpf_map__set_pin_path": (c_int, [c_void_p, c_char_p]),
    "libbpf_num_possible_cpus": (c_int, []),
    "libbpf_probe_bpf_helper": (c_int, [c_int, c_int, c_void_p]),
    "libbpf_set_print": (c_void_p, [c_void_p]),
    # raw fd-level calls
    "bpf_obj_get": (c_int, [c_char_p]),
    "bpf_obj_get_info_by_fd": (c_int, [c_int, c_void_p, POINTER(c_uint32)]),
    "bpf_prog_get_fd_by_id": (c_int, [c_uint32]),
    "bpf_map_lookup_elem": (c_int, [c_int, c_void_p, c_void_p]),
    "bpf_map_update_elem": (c_int, [c_int, c_void_p, c_void_p, c_uint64]),
    "bpf_map_delete_elem": (c_int, [c_int, c_void_p]),
    "bpf_map_get_next_key": (c_int, [c_int, c_void_p, c_void_p]),
    "bpf_map_lookup_batch": (c_int, [c_int, c_void_p, c_void_p, c_void_p, c_void_p, POINTER(c_uint32),
                                     POINTER(MapBatchOpts)]),
    "bpf_prog_test_run_opts": (c_int, [c_int, POINTER(TestRunOpts)]),
    "ring_buffer__new": (c_void_p, [c_int, c_void_p, c_void_p, c_void_p]),
    "ring_buffer__poll": (c_int, [c_void_p, c_int]),
    "ring_buffer__free": (None, [c_void_p]),
    # BTF
    "btf__load_vmlinux_btf": (c_void_p, []),
    "btf__load_from_kernel_by_id": (c_void_p, [c_uint32]),
    "btf__free": (None, [c_void_p]),
    "btf__find_by_name_kind": (ctypes.c_int32, [c_void_p, c_char_p, c_uint32]),
    "btf__type_by_id": (POINTER(BtfType), [c_void_p, c_uint32]),
    "btf__name_by_offset": (c_char_p, [c_void_p, c_uint32]),
    # XDP and TC attachment (netlink)
    "bpf_xdp_attach": (c_int, [c_int, c_int, c_uint32, POINTER(XdpAttachOpts)]),
    "bpf_xdp_detach": (c_int, [c_int, c_uint32, POINTER(XdpAttachOpts)]),
    "bpf_xdp_query": (c_int, [c_int, c_int, POINTER(XdpQueryOpts)]),
    "bpf_tc_hook_create": (c_int, [POINTER(TcHook)]),
    "bpf_tc_attach": (c_int, [POINTER(TcHook), POINTER(TcOpts)]),
    "bpf_tc_detach": (c_int, [POINTER(TcHook), POINTER(TcOpts)]),
    "bpf_tc_query": (c_int, [POINTER(TcHook), POINTER(TcOpts)]),
}
for _name, (_res, _args) in _PROTOS.items():
    _fn = getattr(lib, _name)
    _fn.restype, _fn.argtypes = _res, _args


# ring_buffer_sample_fn: (ctx, data, size) -> 0 to go on
RING_SAMPLE_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)


def check(rc: int, what: str) -> int:
    """Raise BpfError for a negative libbpf return code; pass the value through otherwise."""
    if rc < 0:
        code = -rc if rc != -1 else ctypes.get_errno()
        raise BpfError(code, f"{what}: {os.strerror(code)}")
    return rc


def check_ptr(ptr, what: str):
    if not ptr:
        code = ctypes.get_errno() or _errno.EINVAL
        raise BpfError(code, f"{what}: {os.strerror(code)}")
    return ptr


# libbpf's own messages (verifier logs, map reuse) go to the "telegen.bpf" logger; inside
# `quiet()` (probing calls whose failure is an answer, not a fault) they are debug only.
_quiet = threading.local()


@contextlib.contextmanager
def quiet():
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = False


_PRINT_FN = CFUNCTYPE(c_int, c_int, c_char_p, c_void_p)
_libc.vsnprintf.argtypes = [c_char_p, c_size_t, c_char_p, c_void_p]
_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}


@_PRINT_FN
def _print(level, fmt, args):
    level = logging.DEBUG if getattr(_quiet, "on", False) else _LEVELS.get(level, logging.DEBUG)
    if not log.isEnabledFor(level):
        return 0
    buf = ctypes.create_string_buffer(1024)
    _libc.vsnprintf(buf, len(buf), fmt, args)
    log.log(level, "%s", buf.value.decode(errors="replace").rstrip())
    return 0


lib.libbpf_set_print(ctypes.cast(_print, c_void_p))
NUM_CPUS = check(lib.libbpf_num_possible_cpus(), "libbpf_num_possible_cpus")
