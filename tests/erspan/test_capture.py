"""pcap/pcapng reading, link types, damaged files, and the live-capture entry points."""
from __future__ import annotations

import struct

import numpy as np
import pytest
from scapy.layers.l2 import Ether
from scapy.utils import PcapNgWriter

from erspan import CaptureError, CaptureReader, MirrorCollector, decode_capture
from erspan import write_pcap as library_write_pcap

from .craft import erspan2, erspan3, eth, gre, inner_frame, inner_tcp, write_pcap

FRAMES = [erspan2(seq=i, session_id=3) for i in range(1, 6)] + [erspan3(direction=1)] + \
    [gre(0x6558, inner_frame(inner_tcp(sport=7)))]


def flow_table(collector):
    return sorted(((f.erspan_type, f.session_id, f.direction, f.src, f.sport, f.packets, f.bytes,
                    f.first_seen, f.last_seen) for f in collector.flows()), key=repr)


@pytest.mark.parametrize("big_endian,nanoseconds", [(False, False), (True, False), (False, True), (True, True)])
def test_pcap_variants(tmp_path, big_endian, nanoseconds):
    path = tmp_path / "m.pcap"
    stamps = [1700000000.123456 + i for i in range(len(FRAMES))]
    write_pcap(path, FRAMES, stamps, big_endian=big_endian, nanoseconds=nanoseconds)
    (batch,) = CaptureReader(path)
    assert batch.caplen.tolist() == [len(f) for f in FRAMES]
    assert np.allclose(batch.timestamp, stamps, atol=1e-6)
    assert bytes(batch.data[batch.start[1]:batch.start[1] + batch.caplen[1]]) == FRAMES[1]


def test_small_batches_give_the_same_tables(tmp_path):
    path = tmp_path / "m.pcap"
    write_pcap(path, FRAMES * 40)
    whole = MirrorCollector()
    for batch in CaptureReader(path, batch_size=1 << 16):
        whole.add_frames(batch)
    pieces = MirrorCollector()
    batches = list(CaptureReader(path, batch_size=7))
    assert len(batches) == -(-len(FRAMES) * 40 // 7)
    for batch in batches:
        pieces.add_frames(batch)
    assert flow_table(whole) == flow_table(pieces)
    assert [s.lost for s in whole.sessions()] == [s.lost for s in pieces.sessions()]


def test_pcapng_written_by_scapy(tmp_path):
    path = tmp_path / "m.pcapng"
    writer = PcapNgWriter(str(path))
    for i, frame in enumerate(FRAMES):
        packet = Ether(frame)
        packet.time = 1600000000 + i / 4
        writer.write(packet)
    writer.close()
    pcap = tmp_path / "m.pcap"
    write_pcap(pcap, FRAMES, [1600000000 + i / 4 for i in range(len(FRAMES))])
    assert flow_table(decode_capture(path)) == flow_table(decode_capture(pcap))


def pcapng_block(btype: int, body: bytes, order: str = "<") -> bytes:
    body += b"\x00" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def test_pcapng_interfaces_resolution_simple_packets_and_byte_order(tmp_path):
    frame, raw_ip = erspan2(session_id=11), inner_tcp(sport=99).build()
    shb = pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    ns_option = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)
    idb_eth = pcapng_block(1, struct.pack("<HHI", 1, 0, 65535) + ns_option)
    idb_raw = pcapng_block(1, struct.pack("<HHI", 101, 0, 65535))
    ts = 1_650_000_000_500_000_000  # ns on interface 0
    epb_eth = pcapng_block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame)) + frame)
    epb_raw = pcapng_block(6, struct.pack("<IIIII", 1, 0, 5, len(raw_ip), len(raw_ip)) + raw_ip)
    spb = pcapng_block(3, struct.pack("<I", len(frame)) + frame)
    shb_be = pcapng_block(0x0A0D0D0A, struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1), ">")
    offset_option = struct.pack(">HHq", 14, 8, 1000) + struct.pack(">HH", 0, 0)  # if_tsoffset
    idb_be = pcapng_block(1, struct.pack(">HHI", 1, 0, 65535) + offset_option, ">")
    epb_be = pcapng_block(6, struct.pack(">IIIII", 0, 0, 7_000_000, len(frame), len(frame)) + frame, ">")
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(shb + idb_eth + idb_raw + epb_eth + epb_raw + spb + shb_be + idb_be + epb_be)
    (batch,) = CaptureReader(path)
    assert batch.linktype.tolist() == [1, 101, 1, 1]
    assert batch.timestamp[0] == pytest.approx(1_650_000_000.5) and batch.timestamp[3] == pytest.approx(1007.0)
    collector = MirrorCollector()
    collector.add_frames(batch)
    assert collector.stats()["skipped"] == {"not_mirror": 1}  # the raw IP frame is not a mirror
    assert [f.packets for f in collector.flows()] == [3]


def test_linux_cooked_and_null_link_types():
    inner = erspan2(session_id=12)
    sll = struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 8, 0x0800) + inner[14:]
    null = struct.pack("<I", 2) + inner[14:]
    for linktype, frame in ((113, sll), (0, null), (101, inner[14:])):
        collector = MirrorCollector()
        collector.add_packets([frame], linktype=linktype)
        assert [(f.session_id, f.sport) for f in collector.flows()] == [(12, 40000)], linktype


def test_truncated_and_corrupt_files_are_counted_not_raised(tmp_path):
    path = tmp_path / "cut.pcap"
    write_pcap(path, FRAMES)
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    collector = decode_capture(path)
    assert collector.stats()["frames"] == len(FRAMES) - 1
    assert collector.stats()["malformed"] == {"capture_truncated": 1}
    corrupt = tmp_path / "corrupt.pcap"
    corrupt.write_bytes(data[:24] + struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 0x7FFFFFFF) + data[40:])
    assert decode_capture(corrupt).stats()["malformed"] == {"capture_corrupt": 1}


@pytest.mark.parametrize("content", [b"", b"abc", b"hello, this is not a capture"])
def test_not_a_capture(tmp_path, content):
    path = tmp_path / "x.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError):
        CaptureReader(path)


def test_live_entry_points_agree_with_the_file(tmp_path):
    path = tmp_path / "m.pcap"
    stamps = [1700000000.0 + i for i in range(len(FRAMES))]
    write_pcap(path, FRAMES, stamps)
    from_list, from_buffer = MirrorCollector(), MirrorCollector()
    from_list.add_packets(FRAMES, stamps)
    from_buffer.add_buffer(bytearray(b"".join(FRAMES)), [len(f) for f in FRAMES], stamps)
    from_file = decode_capture(path)
    assert flow_table(from_list) == flow_table(from_buffer) == flow_table(from_file)
    assert len(flow_table(from_file)) == 3


def test_span_capture_is_detected_when_no_mirror_stream_is_present(tmp_path):
    path = tmp_path / "span.pcap"
    write_pcap(path, [bytes(eth() / inner_tcp(sport=s)) for s in (1, 2, 2)])
    collector = decode_capture(path)
    assert sorted((f.sport, f.packets) for f in collector.flows()) == [(1, 1), (2, 2)]
    assert [(s.outer_src, s.gre_proto, s.packets) for s in collector.sessions()] == [(None, None, 3)]


def test_library_pcap_writer_round_trip(tmp_path):
    path = tmp_path / "w.pcap"
    stamps = [1700000000.25 + i for i in range(len(FRAMES))]
    assert library_write_pcap(path, iter(FRAMES), iter(stamps)) == len(FRAMES)
    (batch,) = CaptureReader(path)
    assert [bytes(batch.data[s:s + c]) for s, c in zip(batch.start, batch.caplen)] == FRAMES
    assert batch.timestamp.tolist() == stamps
