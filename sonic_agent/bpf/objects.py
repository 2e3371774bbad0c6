"""BPF objects, programs and maps over libbpf: open and load a CO-RE object, pin its maps,
read maps (batched where the kernel can), consume a ring buffer, run a program on a frame
(BPF_PROG_TEST_RUN).

Keys and values cross the boundary as bytes and are decoded right here into the caller's
ctypes structs, whose sizes are checked against the kernel's map so a layout drift between
a C header and its ctypes mirror fails loudly instead of reading garbage.
"""
from __future__ import annotations

import ctypes
import errno
import os
from ctypes import byref, c_uint32, create_string_buffer, sizeof
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Type

import numpy as np

from .libbpf import (NUM_CPUS, RING_SAMPLE_FN, BpfError, BtfEnum, BtfType, MapBatchOpts, MapInfo, ProgInfo,
                     TestRunOpts, check, check_ptr, lib)

PERCPU_MAP_TYPES = {5, 6, 10, 15}  # PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH, PERCPU_CGROUP_STORAGE
BTF_KIND_ENUM = 6
ENOTSUPP = 524  # the kernel's internal "not supported", seen by userspace as-is
BPF_NOEXIST = 1
BATCH_ENTRIES = 4096  # entries per lookup_batch call: bounds the read buffers (a map may hold millions)


def obj_info(fd: int, info_type):
    info = info_type()
    size = c_uint32(sizeof(info))
    check(lib.bpf_obj_get_info_by_fd(fd, byref(info), byref(size)), "bpf_obj_get_info_by_fd")
    return info


def prog_fd_by_id(prog_id: int) -> int:
    """A new fd (the caller closes it) for a loaded program."""
    return check(lib.bpf_prog_get_fd_by_id(prog_id), f"bpf_prog_get_fd_by_id({prog_id})")


def prog_name_by_id(prog_id: int) -> Optional[str]:
    """The name of a loaded program, or None when the id no longer exists."""
    try:
        fd = prog_fd_by_id(prog_id)
    except BpfError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    try:
        return obj_info(fd, ProgInfo).name.decode()
    finally:
        os.close(fd)


def prog_named(prog_id: int, prefix: str) -> bool:
    """Whether a loaded program (by id) has a name starting with `prefix` (one of ours)."""
    return bool(prog_id) and (prog_name_by_id(prog_id) or "").startswith(prefix)


class Index(ctypes.Structure):
    """The u32 key of single-entry arrays (settings, error and stats counters)."""

    _fields_ = [("value", c_uint32)]


def enum_names(btf, enum: str) -> Dict[int, str]:
    """value -> name for an enum declared in a BTF (an object's, a map's, or vmlinux)."""
    tid = lib.btf__find_by_name_kind(btf, enum.encode(), BTF_KIND_ENUM)
    if tid < 0:
        raise BpfError(-tid, f"enum {enum} not in BTF")
    t = lib.btf__type_by_id(btf, tid)
    members = ctypes.cast(ctypes.addressof(t.contents) + sizeof(BtfType), ctypes.POINTER(BtfEnum))
    return {members[i].val: lib.btf__name_by_offset(btf, members[i].name_off).decode()
            for i in range(t.contents.info & 0xFFFF)}


def kernel_has_helper(prog_type: int, helper: int) -> bool:
    """Whether the running kernel lets programs of `prog_type` call BPF helper `helper` (both
    numbered as in include/uapi/linux/bpf.h); libbpf asks by loading a two-instruction program."""
    return check(lib.libbpf_probe_bpf_helper(prog_type, helper, None), f"probe of BPF helper {helper}") == 1


def kernel_enum(enum: str) -> Dict[int, str]:
    """An enum of the running kernel (e.g. skb_drop_reason), from /sys/kernel/btf/vmlinux."""
    btf = check_ptr(lib.btf__load_vmlinux_btf(), "btf__load_vmlinux_btf")
    try:
        return enum_names(btf, enum)
    finally:
        lib.btf__free(btf)


class Map:
    """One kernel map by fd; `owned` maps (opened from a pin) close their fd themselves.
    `reads` counts whole-map reads (`blobs`, and `items`/`read` over it)."""

    def __init__(self, fd: int, owned: bool = False):
        self.fd, self._owned = fd, owned
        self.info = obj_info(fd, MapInfo)
        self.name = self.info.name.decode()
        self.percpu = self.info.type in PERCPU_MAP_TYPES
        self.value_bytes = ((self.info.value_size + 7) // 8 * 8 * NUM_CPUS if self.percpu
                            else self.info.value_size)
        self._batch = True
        self.reads = 0

    @classmethod
    def from_pin(cls, path: str) -> "Map":
        return cls(check(lib.bpf_obj_get(str(path).encode()), f"bpf_obj_get({path})"), owned=True)

    def close(self) -> None:
        if self._owned and self.fd >= 0:
            os.close(self.fd)
        self.fd = -1

    def enum(self, name: str) -> Dict[int, str]:
        """Names of an enum from the BTF the kernel keeps for this map's object."""
        btf = check_ptr(lib.btf__load_from_kernel_by_id(self.info.btf_id), f"BTF of map {self.name}")
        try:
            return enum_names(btf, name)
        finally:
            lib.btf__free(btf)

    def check_layout(self, key_type: Type, value_type: Type) -> None:
        if (sizeof(key_type), sizeof(value_type)) != (self.info.key_size, self.info.value_size):
            raise BpfError(errno.EINVAL, f"map {self.name}: {key_type.__name__}/{value_type.__name__} are "
                           f"{sizeof(key_type)}/{sizeof(value_type)} bytes, the kernel's "
                           f"{self.info.key_size}/{self.info.value_size}")

    def lookup(self, key) -> Optional[bytes]:
        value = create_string_buffer(self.value_bytes)
        rc = lib.bpf_map_lookup_elem(self.fd, byref(key), value)
        if rc == -errno.ENOENT:
            return None
        check(rc, f"lookup in {self.name}")
        return value.raw

    def update(self, key, value: bytes, flags: int = 0) -> bool:
        """Write an entry; with BPF_NOEXIST, False when it already existed."""
        buf = create_string_buffer(bytes(value), self.value_bytes)
        rc = lib.bpf_map_update_elem(self.fd, byref(key), buf, flags)
        if rc == -errno.EEXIST and flags & BPF_NOEXIST:
            return False
        check(rc, f"update in {self.name}")
        return True

    def delete(self, key) -> bool:
        rc = lib.bpf_map_delete_elem(self.fd, byref(key))
        if rc == -errno.ENOENT:
            return False
        check(rc, f"delete in {self.name}")
        return True

    def blobs(self) -> Tuple[bytes, bytes, int]:
        """Every entry: the keys and the values packed in two blobs (key_size and value_bytes
        apart), and their count; per-CPU values hold one slot per possible CPU."""
        self.reads += 1
        if self._batch:
            try:
                return self._blobs_batch()
            except BpfError as exc:
                if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, ENOTSUPP):
                    raise
                self._batch = False  # an older kernel or a map type without batch ops
        return self._blobs_iter()

    def items(self) -> List[Tuple[bytes, bytes]]:
        """Every (key, value) as bytes."""
        keys, values, n = self.blobs()
        ks, vs = self.info.key_size, self.value_bytes
        return [(keys[i * ks:(i + 1) * ks], values[i * vs:(i + 1) * vs]) for i in range(n)]

    def _blobs_batch(self) -> Tuple[bytes, bytes, int]:
        ks, vs, n = self.info.key_size, self.value_bytes, min(self.info.max_entries, BATCH_ENTRIES)
        keys, values = create_string_buffer(ks * n), create_string_buffer(vs * n)
        tokens = [create_string_buffer(max(ks, 8)), create_string_buffer(max(ks, 8))]
        opts, key_parts, value_parts, total, first = MapBatchOpts(), [], [], 0, True
        while True:
            count = c_uint32(n)
            rc = lib.bpf_map_lookup_batch(self.fd, None if first else tokens[0], tokens[1], keys, values,
                                          byref(count), byref(opts))
            if rc < 0 and rc != -errno.ENOENT:
                check(rc, f"lookup_batch in {self.name}")
            key_parts.append(ctypes.string_at(keys, count.value * ks))
            value_parts.append(ctypes.string_at(values, count.value * vs))
            total += count.value
            if rc == -errno.ENOENT or count.value == 0:
                return b"".join(key_parts), b"".join(value_parts), total
            tokens.reverse()
            first = False

    def _blobs_iter(self) -> Tuple[bytes, bytes, int]:
        key, nxt, prev = create_string_buffer(self.info.key_size), create_string_buffer(self.info.key_size), None
        key_parts, value_parts = [], []
        while lib.bpf_map_get_next_key(self.fd, prev, nxt) == 0:
            ctypes.memmove(key, nxt, self.info.key_size)
            value = create_string_buffer(self.value_bytes)
            if lib.bpf_map_lookup_elem(self.fd, key, value) == 0:  # gone in between: skip
                key_parts.append(key.raw)
                value_parts.append(value.raw)
            prev = key
        return b"".join(key_parts), b"".join(value_parts), len(key_parts)

    def read(self, key_type: Type, value_type: Type) -> List[Tuple[object, object]]:
        """Decoded entries; per-CPU values (all __u64 fields) are summed over the CPUs."""
        self.check_layout(key_type, value_type)
        keys, values, n = self.blobs()
        ks, vs = self.info.key_size, self.value_bytes
        key_objs = [key_type.from_buffer_copy(keys, i * ks) for i in range(n)]
        if not self.percpu:
            return [(k, value_type.from_buffer_copy(values, i * vs)) for i, k in enumerate(key_objs)]
        if not n:
            return []
        sums = np.frombuffer(values, dtype="<u8").reshape(n, NUM_CPUS, -1).sum(axis=1, dtype=np.uint64)
        return [(k, value_type.from_buffer_copy(row.tobytes())) for k, row in zip(key_objs, sums)]

    def zero_value(self) -> bytes:
        """An all-zero value in this map's userspace layout (one slot per CPU if per-CPU)."""
        return bytes(self.value_bytes)


class Program:
    def __init__(self, ptr, name: str):
        self.ptr, self.name = ptr, name
        self.fd = lib.bpf_program__fd(ptr)

    def attach(self) -> "Link":
        """Attach by section (tracing programs: tp_btf/..., fentry/...); detached on close."""
        return Link(check_ptr(lib.bpf_program__attach(self.ptr), f"attach {self.name}"))

    def test_run(self, frame: bytes, repeat: int = 1) -> Tuple[int, int]:
        """BPF_PROG_TEST_RUN: (return value, mean ns per run) on `frame`."""
        data = create_string_buffer(frame, len(frame))
        opts = TestRunOpts(data_in=ctypes.cast(data, ctypes.c_void_p), data_size_in=len(frame), repeat=repeat)
        check(lib.bpf_prog_test_run_opts(self.fd, byref(opts)), f"test_run {self.name}")
        return opts.retval, opts.duration


class Link:
    def __init__(self, ptr):
        self.ptr = ptr

    def destroy(self) -> None:
        if self.ptr:
            lib.bpf_link__destroy(self.ptr)
            self.ptr = None


class RingBuffer:
    """A BPF ring buffer map read with libbpf's consumer: `poll(timeout_ms)` hands every record
    waiting (or arriving within the timeout) to `on_record(bytes)`, from the calling thread."""

    def __init__(self, ring_map: Map, on_record: Callable[[bytes], None]):
        self._on_record = on_record
        self._callback = RING_SAMPLE_FN(self._sample)  # kept: libbpf holds a pointer to it
        self._rb = check_ptr(lib.ring_buffer__new(ring_map.fd, ctypes.cast(self._callback, ctypes.c_void_p),
                                                  None, None), f"ring buffer {ring_map.name}")

    def _sample(self, _ctx, data, size) -> int:
        self._on_record(ctypes.string_at(data, size))
        return 0

    def poll(self, timeout_ms: int) -> int:
        """Records consumed (a signal interrupting the wait counts 0)."""
        rc = lib.ring_buffer__poll(self._rb, timeout_ms)
        return 0 if rc == -errno.EINTR else check(rc, "ring_buffer__poll")

    def close(self) -> None:
        if self._rb:
            lib.ring_buffer__free(self._rb)
            self._rb = None


class BpfObject:
    """An opened and loaded object file. Maps listed in `pin` are pinned under `pin_dir`:
    an existing compatible pin is reused (its contents kept), otherwise created and pinned."""

    def __init__(self, path: str, pin_dir: Optional[str] = None, pin: Iterable[str] = (),
                 max_entries: Mapping[str, int] = (), skip: Iterable[str] = ()):
        if not Path(path).is_file():
            raise BpfError(errno.ENOENT, f"{path}: no such BPF object (build it: make -C bpf)")
        self._obj = check_ptr(lib.bpf_object__open_file(str(path).encode(), None), f"open {path}")
        try:
            for name, n in dict(max_entries).items():
                check(lib.bpf_map__set_max_entries(self._map_ptr(name), n), f"max_entries of {name}")
            for name in pin:
                check(lib.bpf_map__set_pin_path(self._map_ptr(name), f"{pin_dir}/{name}".encode()), f"pin {name}")
            for name in skip:
                check(lib.bpf_program__set_autoload(self._prog_ptr(name), False), f"skip {name}")
            check(lib.bpf_object__load(self._obj), f"load {path}")
        except BaseException:
            self.close()
            raise

    def _map_ptr(self, name: str):
        return check_ptr(lib.bpf_object__find_map_by_name(self._obj, name.encode()), f"map {name}")

    def _prog_ptr(self, name: str):
        return check_ptr(lib.bpf_object__find_program_by_name(self._obj, name.encode()), f"program {name}")

    def map(self, name: str) -> Map:
        return Map(lib.bpf_map__fd(self._map_ptr(name)))

    def program(self, name: str) -> Program:
        return Program(self._prog_ptr(name), name)

    def close(self) -> None:
        if self._obj:
            lib.bpf_object__close(self._obj)
            self._obj = None

    def __enter__(self) -> "BpfObject":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
