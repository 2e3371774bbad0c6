"""`telegen-sonic decode FILE [--format table|json] [--anonymize-key KEY]`: a pcap/pcapng of mirror
traffic to flows.

ERSPAN I/II/III, GRE 0x8949/0x6558/IP and raw SPAN captures (a file without any mirror
stream is read as SPAN). Flows are per mirror stream: the table names each flow's outer
source (the switch that mirrored it). JSON is one object: `flows`, `sessions`, `stats`; null
where a field does not apply. With `--anonymize-key` (a 32-byte Crypto-PAn key file, as the
agent's `privacy.key_file`) every address, inner and outer, is anonymised prefix-preserving.
Decoding is the `erspan` library's; this module only formats.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import List, Sequence

from erspan import CaptureError, decode_capture

from .errors import UserError

TCP_FLAG_LETTERS = "FSRPAUEC"  # bit 0 (FIN) upwards


def main(args) -> int:
    try:
        collector = decode_capture(args.file)
    except CaptureError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"{args.file}: {exc.strerror or exc}") from None
    flows = sorted(collector.flows(), key=lambda f: (-f.bytes, -f.packets, f.src, f.dst))
    sessions = collector.sessions()
    if args.anonymize_key:
        policy = anonymizing_policy(args.anonymize_key)
        flows, sessions = [policy.flow(f) for f in flows], [policy.stream(s) for s in sessions]
    stats = collector.stats()
    if args.format == "json":
        document = {"flows": [asdict(f) for f in flows],
                    "sessions": [asdict(s) for s in sessions], "stats": stats}
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_tables(flows, sessions, stats))
    return 0


def anonymizing_policy(key_file: str):
    from .config import PrivacyConfig
    from .privacy.cryptopan import Anonymizer
    from .privacy.policy import PrivacyPolicy, read_key
    anonymizer = Anonymizer(read_key(key_file, "--anonymize-key"), entries=1 << 16)
    return PrivacyPolicy(PrivacyConfig(anonymize=True), "--anonymize-key", anonymizer, None)


def tcp_flag_letters(flags) -> str:
    if flags is None:
        return "-"
    return "".join(letter for bit, letter in enumerate(TCP_FLAG_LETTERS) if flags >> bit & 1) or "."


def _dash(value) -> str:
    return "-" if value is None else str(value)


def render_tables(flows: Sequence, sessions: Sequence, stats: dict) -> str:
    flow_rows = [[_dash(f.outer_src), _dash(f.erspan_type), _dash(f.session_id), _dash(f.direction),
                  _dash(f.vlan), f.src, _dash(f.sport), f.dst, _dash(f.dport), str(f.proto), str(f.packets),
                  str(f.bytes), tcp_flag_letters(f.tcp_flags)] for f in flows]
    session_rows = [[_dash(s.outer_src), _dash(s.outer_dst),
                     "-" if s.gre_proto is None else f"0x{s.gre_proto:04x}", _dash(s.session_id),
                     str(s.packets), str(s.lost), str(s.truncated),
                     ",".join(f"{k}={v}" for k, v in sorted(s.malformed.items())) or "-"]
                    for s in sessions]
    parts = [
        _table(["OUTER_SRC", "ERSPAN", "SID", "DIR", "VLAN", "SRC", "SPORT", "DST", "DPORT", "PROTO",
                "PACKETS", "BYTES", "TCP"], flow_rows),
        _table(["OUTER_SRC", "OUTER_DST", "GRE", "SID", "PACKETS", "LOST", "TRUNCATED", "MALFORMED"],
               session_rows),
        f"frames {stats['frames']}, in flows {stats['flow_packets']}, "
        f"malformed {_counts(stats['malformed'])}, skipped {_counts(stats['skipped'])}\n",
    ]
    return "\n".join(parts)


def _counts(counts: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none"


def _table(header: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
             for row in [header] + rows]
    return "\n".join(lines) + "\n"
