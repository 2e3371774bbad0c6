"""Listen addresses: "host:port" or "[v6]:port", and whether a host is loopback."""
from __future__ import annotations

import ipaddress
import re
from typing import Tuple

from .errors import UserError


def parse_listen(text: str, what: str) -> Tuple[str, int]:
    """`what` names the setting in errors, e.g. "config: export.prometheus.listen". Port 0 asks
    the kernel for a free one."""
    host, sep, port = text.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not host:
        raise UserError(f"{what}: must be host:port, got {text[:60]!r}")
    if len(port) > 5 or int(port) > 65535:
        raise UserError(f"{what}: port must be 0..65535, got {port[:12]}")
    host = host.strip("[]")
    if not _is_address(host) and not HOSTNAME.fullmatch(host):
        raise UserError(f"{what}: host must be an IP address or a host name, got {host[:60]!r}")
    return host, int(port)


HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    return _is_address(host) and ipaddress.ip_address(host).is_loopback
