"""Listen addresses: "host:port" or "[v6]:port", and whether a host is loopback."""
from __future__ import annotations

import ipaddress
from typing import Tuple

from ..errors import UserError


def parse_listen(text: str, what: str) -> Tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UserError(f"{what}: listen must be host:port, got {text!r}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
