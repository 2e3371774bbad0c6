"""The kernel path of mirror decoding: the XDP decoder (bpf/erspan_decoder.bpf.c) on the
collector interface. This module is its lifecycle: load (maps sized), configure, attach,
detach, close. Its maps are read by `reader.DecoderMaps` (`read`), its layouts are declared
in `kernel`.

The kernel decodes what it can and passes the rest to the stack (each frame's reason is
counted), where an AF_PACKET capture feeding the erspan library sees exactly the passed
frames. Sessions live in a set-associative array (max_sessions rounded up to whole sets of 8,
a power of two of them); the program counts its evictions. The object is the one built for
the running kernel (`object_for_kernel`): with BPF timers, or the 5.10 build without them.
"""
from __future__ import annotations

import math
import os
import socket
from typing import Iterable, Optional, Union

from erspan.streams import Stream
from erspan.tunnel import DEFAULT_VENDOR_HEADER_LEN

from ..bpf import BpfObject, Index, kernel_has_helper, object_path
from ..bpf.xdp import XdpAttachment, attach_xdp
from . import kernel as k
from .reader import DecoderMaps, DecoderReading


def object_for_kernel() -> str:
    """The decoder object this kernel runs: erspan_decoder.bpf.o where XDP programs may use
    BPF timers (5.15+, which also have compare-and-swap), else erspan_decoder_5_10.bpf.o."""
    return k.OBJECT if kernel_has_helper(k.PROG_TYPE_XDP, k.HELPER_TIMER_INIT) else k.OBJECT_5_10


class XdpMirrorDecoder:
    """Load the decoder (maps sized here), configure it, attach it to one interface."""

    def __init__(self, max_flows: int = 65536, max_sessions: int = 4096,
                 vendor_header_len: int = DEFAULT_VENDOR_HEADER_LEN, drop: bool = True,
                 path: Optional[str] = None):
        if not 0 <= vendor_header_len <= k.VENDOR_HEADER_MAX:
            raise ValueError(f"vendor_header_len must be 0..{k.VENDOR_HEADER_MAX}, not {vendor_header_len}")
        session_sets = 1 << max(0, math.ceil(max_sessions / k.SESSION_WAYS) - 1).bit_length()
        path = str(path or object_path(object_for_kernel()))
        self.object_name = os.path.basename(path)
        self.obj = BpfObject(path,
                             max_entries={k.MAP_FLOWS: max_flows, k.MAP_SESSIONS: session_sets * k.SESSION_WAYS})
        self.attachment: Optional[XdpAttachment] = None
        try:
            self.program = self.obj.program(k.PROG)
            self.maps = DecoderMaps({name: self.obj.map(name) for name in k.READ_MAPS})
            config = k.Config(vendor_header_len, int(drop), session_sets, 0, int.from_bytes(os.urandom(8), "little"))
            self.obj.map(k.MAP_CONFIG).update(Index(0), bytes(config))
        except BaseException:
            self.obj.close()
            raise

    def attach(self, interface: Union[str, int], mode: int = 0) -> None:
        """Attach to a device of the calling thread's network namespace (detach and close from
        the same one). A decoder left there by a previous agent is replaced atomically; a
        device with anyone else's XDP program is refused, never overwritten (bpf.xdp)."""
        ifindex = interface if isinstance(interface, int) else socket.if_nametoindex(interface)
        self.attachment = attach_xdp(ifindex, self.program.fd, k.PROG_PREFIX, mode)

    def detach(self) -> None:
        if self.attachment is not None:
            self.attachment.detach()
            self.attachment = None

    def close(self) -> None:
        try:
            self.detach()
        finally:
            self.obj.close()

    def __enter__(self) -> "XdpMirrorDecoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, top: Optional[int] = None, by: str = "bytes", watch: Iterable[Stream] = (),
             watch_limit: int = 0) -> DecoderReading:
        """As `erspan.MirrorCollector.read`: every map once (see reader.DecoderMaps.read)."""
        return self.maps.read(top, by, watch, watch_limit)


__all__ = ["XdpMirrorDecoder", "object_for_kernel"]
