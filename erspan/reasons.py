"""Why a frame did not become a flow: one small integer per frame, named here.

`malformed` reasons are broken headers (cut short, impossible values, rejected GRE flags);
`skipped` reasons are well-formed frames that carry no mirrored IP packet (traffic that is
not a mirror stream, non-first outer fragments, ARP/LLDP inside a mirror, ERSPAN III frame
types other than Ethernet or IP). Code 0 means the frame produced a flow.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

_IP = ("ip_truncated", "ip_version", "ipv4_header_length", "ipv4_total_length",
       "ipv6_ext_truncated", "ipv6_ext_chain")
MALFORMED: Tuple[str, ...] = (
    ("outer_l2_truncated",) + tuple(f"outer_{r}" for r in _IP)
    + ("gre_truncated", "gre_routing", "gre_version", "erspan_truncated", "erspan_version",
       "vendor_header_truncated", "inner_l2_truncated")
    + tuple(f"inner_{r}" for r in _IP))
SKIPPED: Tuple[str, ...] = ("not_mirror", "gre_not_mirror", "outer_fragment", "erspan_frame_type",
                            "inner_not_ip", "unsupported_linktype")
NAMES: Tuple[str, ...] = ("ok",) + MALFORMED + SKIPPED
CODE: Dict[str, int] = {name: code for code, name in enumerate(NAMES)}
FIRST_SKIPPED = CODE[SKIPPED[0]]


def count_reasons(codes: np.ndarray) -> Tuple[Dict[str, int], Dict[str, int]]:
    """(malformed, skipped) counts by reason name for an array of reason codes."""
    counts = np.bincount(codes, minlength=len(NAMES))
    malformed = {NAMES[c]: int(counts[c]) for c in range(1, FIRST_SKIPPED) if counts[c]}
    skipped = {NAMES[c]: int(counts[c]) for c in range(FIRST_SKIPPED, len(NAMES)) if counts[c]}
    return malformed, skipped
