"""The erspan library and the decode verb load without scapy, BCC, redis or SONiC code."""
from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import erspan, erspan.afpacket, sonic_agent.decode, sonic_agent.mirror.records
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('scapy', 'bcc', 'redis', 'dpkt', 'pyroute2'))
print(','.join(heavy))
"""


def test_imports_nothing_heavy():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
