"""Listen addresses: "host:port" or "[v6]:port", and whether a host is loopback."""
from __future__ import annotations

import ipaddress
from typing import Tuple

from .errors import UserError


def parse_listen(text: str, what: str) -> Tuple[str, int]:
    """`what` names the setting in errors, e.g. "config: export.prometheus.listen". Port 0 asks
    the kernel for a free one."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UserError(f"{what}: must be host:port, got {text!r}")
    if int(port) > 65535:
        raise UserError(f"{what}: port must be 0..65535, got {port}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
