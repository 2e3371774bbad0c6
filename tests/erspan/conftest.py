"""Fixtures of the mirror decoding tests."""
from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import require_root


@pytest.fixture
def veth():
    """A veth pair in the root namespace, IPv6 off (no stray frames): (a, b)."""
    require_root()
    tag = uuid.uuid4().hex[:6]
    a, b = f"tgm{tag}a", f"tgm{tag}b"
    subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
    try:
        for dev in (a, b):
            Path(f"/proc/sys/net/ipv6/conf/{dev}/disable_ipv6").write_text("1")
            subprocess.run(["ip", "link", "set", dev, "up"], check=True)
        yield a, b
    finally:
        subprocess.run(["ip", "link", "del", a], check=False)
