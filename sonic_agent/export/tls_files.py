"""A server's certificate, key and client CA read and checked before gRPC is given them.

gRPC takes any bytes and fails later with nothing better than "cannot bind"; here a file that
cannot be read, is not PEM, is an encrypted key, or a key that does not match its certificate
is one UserError naming the setting and the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Tuple

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from ..errors import UserError

MAX_BYTES = 1 << 20


def _read(path: str, what: str) -> bytes:
    try:
        with Path(path).open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UserError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise UserError(f"{what}: {path} is larger than {MAX_BYTES >> 20} MiB")
    return data


def certificates(path: str, what: str) -> bytes:
    """The PEM certificates in `path` (at least one)."""
    data = _read(path, what)
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        raise UserError(f"{what}: {path} holds no PEM certificate") from None
    return data


def key_pair(cert_path: str, key_path: str, what: str) -> Tuple[bytes, bytes]:
    """(key PEM, certificate chain PEM), the key the one of the chain's first certificate."""
    chain = certificates(cert_path, f"{what}.cert")
    data = _read(key_path, f"{what}.key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise UserError(f"{what}.key: {key_path} is encrypted (give it without a passphrase)") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise UserError(f"{what}.key: {key_path} is not a PEM private key ({type(exc).__name__})") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if x509.load_pem_x509_certificates(chain)[0].public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise UserError(f"{what}.key: {key_path} does not match the certificate in {cert_path}")
    return data, chain
