"""Crypto-PAn: prefix-preserving address anonymisation (Xu, Fan, Ammar, Moon), IPv4 and IPv6.

Keyed by 32 bytes laid out as the reference implementation reads them: the first 16 the AES
key, the last 16 the pad (which, as there, is itself encrypted before use). Bit i of the
anonymised address is bit i of the original XOR the first bit of AES(the original's first i
bits, then the pad's remaining bits); so two addresses sharing a k-bit prefix share a k-bit
prefix anonymised, the mapping is one-to-one and the same key gives the same mapping in every
run. The 32 (IPv4) or 128 (IPv6) blocks of one address do not depend on each other and go to
the cipher in one call. The AES is the `cryptography` package's (OpenSSL). An IPv4 address is
anonymised as 32 bits (the reference's result), an IPv6 one, v4-mapped ones included, as 128.
`Anonymizer` puts a bounded LRU cache in front: flows come back tick after tick.
"""
from __future__ import annotations

import functools
import ipaddress
import threading
from typing import Dict

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import KEY_BYTES

_ALL = (1 << 128) - 1
_PREFIXES = [_ALL ^ ((1 << (128 - i)) - 1) for i in range(128)]  # the top i bits of a block


class CryptoPAn:
    def __init__(self, key: bytes):
        if len(key) != KEY_BYTES:
            raise ValueError(f"a Crypto-PAn key is {KEY_BYTES} bytes, got {len(key)}")
        self._encryptor = Cipher(algorithms.AES(key[:16]), modes.ECB()).encryptor()
        self._lock = threading.Lock()  # one cipher context, not to be shared between threads at once
        self._pad = int.from_bytes(self._encrypt(key[16:]), "big")

    def _encrypt(self, blocks: bytes) -> bytes:
        with self._lock:
            return self._encryptor.update(blocks)

    def anonymize_int(self, value: int, bits: int) -> int:
        """The anonymised form of a `bits`-bit address (32 or 128)."""
        top = value << (128 - bits)  # the address in a block's leading bits, as the reference places it
        pad = self._pad
        blocks = b"".join(((top & keep) | (pad & ~keep & _ALL)).to_bytes(16, "big") for keep in _PREFIXES[:bits])
        out = self._encrypt(blocks)
        flips = 0
        for i in range(bits):
            flips = (flips << 1) | (out[16 * i] >> 7)
        return value ^ flips

    def anonymize(self, address: str) -> str:
        """An IPv4 or IPv6 address in text, anonymised; ValueError if it is not one."""
        parsed = ipaddress.ip_address(address)
        return str(type(parsed)(self.anonymize_int(int(parsed), parsed.max_prefixlen)))


class Anonymizer:
    """`text(s)`: `s` anonymised if it is an IP address (with a zone or a prefix length kept as
    they are), else unchanged; the last `entries` answers kept (LRU), hits and misses counted."""

    def __init__(self, key: bytes, entries: int):
        self._pan = CryptoPAn(key)
        self.text = functools.lru_cache(maxsize=entries)(self._text)

    def _text(self, value: str) -> str:
        address, sep, rest = value.partition("%") if "%" in value else value.partition("/")
        try:
            return self._pan.anonymize(address) + sep + rest
        except ValueError:
            return value

    def counters(self) -> Dict[str, float]:
        info = self.text.cache_info()
        return {"privacy_cache_hits_total": float(info.hits), "privacy_cache_misses_total": float(info.misses),
                "privacy_cache_evictions_total": float(info.misses - info.currsize),
                "privacy_cache_entries": float(info.currsize)}
