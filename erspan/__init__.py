"""Mirror decoding: ERSPAN I/II/III, GRE (0x8949, 0x6558, IP) and raw SPAN frames to flows.

A standalone library (numpy only; no SONiC, BCC or packet-crafting code). Pipeline:
capture/frames -> decoder (vectorised per batch) -> flows + sessions (bounded tables),
all driven by `MirrorCollector`, for files (`decode_capture`) and for live batches.
"""
from .capture import CaptureError, CaptureReader, write_pcap
from .collector import MirrorCollector, Reading, decode_capture
from .decoder import Decoded, DecoderConfig, decode
from .flows import Flow, FlowTable
from .frames import Frames, frames_from_buffer, frames_from_list
from .sessions import Session, SessionTable

__all__ = ["CaptureError", "CaptureReader", "Decoded", "DecoderConfig", "Flow", "FlowTable",
           "Frames", "MirrorCollector", "Reading", "Session", "SessionTable", "decode", "decode_capture",
           "frames_from_buffer", "frames_from_list", "write_pcap"]
