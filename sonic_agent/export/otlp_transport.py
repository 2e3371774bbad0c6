"""Thin OTLP transports: move one encoded request, say whether a failure is worth a retry.

gRPC: `endpoint` host:port (an `http://` scheme means plain text, `https://` or a configured
CA/cert means TLS; `tls.insecure` forces plain text), gzip per call, headers as metadata.
HTTP/protobuf: `endpoint` is the base URL; requests go to `<endpoint>/v1/metrics` and
`/v1/logs` with `Content-Encoding: gzip`; `tls.insecure` skips server verification.
Header values may hold `${NAME}`, replaced from the environment when the exporter starts.
The CA, certificate and key are read and checked when it starts (tls_files: one line naming
the setting for a file that is unreadable, not PEM, or a key not the certificate's).
"""
from __future__ import annotations

import gzip
import os
import re
import ssl
import urllib.error
import urllib.request
from typing import Dict, Mapping, Optional, Tuple

import grpc
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc import MetricsServiceStub

from ..config import OtlpConfig, TlsConfig
from ..errors import UserError

RETRYABLE_GRPC = {grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
                  grpc.StatusCode.ABORTED, grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.UNAVAILABLE,
                  grpc.StatusCode.DATA_LOSS}
RETRYABLE_HTTP = {408, 429, 502, 503, 504}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ExportFailed(Exception):
    def __init__(self, reason: str, retryable: bool):
        super().__init__(reason)
        self.retryable = retryable


def expand_headers(headers: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> Dict[str, str]:
    """`${NAME}` in each value replaced from `environ`; an unset variable is a UserError."""
    def substitute(name: str, match: re.Match) -> str:
        if match.group(1) not in environ:
            raise UserError(f"export.otlp.headers.{name}: environment variable {match.group(1)} is not set")
        return environ[match.group(1)]
    return {name: _VARIABLE.sub(lambda m, n=name: substitute(n, m), value) for name, value in headers.items()}


def tls_files(tls: TlsConfig) -> Tuple[Optional[bytes], Optional[bytes], Optional[bytes]]:
    """(CA, key, certificate chain) PEM, each checked; None where not configured."""
    if bool(tls.cert) != bool(tls.key):
        raise UserError("export.otlp.tls: cert and key go together")
    if not (tls.ca or tls.cert):
        return None, None, None
    from .tls_files import certificates, key_pair  # cryptography (~7 MB resident) only with TLS
    ca = certificates(tls.ca, "export.otlp.tls.ca") if tls.ca else None
    key, chain = key_pair(tls.cert, tls.key, "export.otlp.tls") if tls.cert else (None, None)
    return ca, key, chain


class GrpcTransport:
    def __init__(self, cfg: OtlpConfig, headers: Dict[str, str]):
        scheme, _, target = cfg.endpoint.rpartition("://")
        tls: TlsConfig = cfg.tls
        secure = not tls.insecure and (scheme == "https" or bool(tls.ca or tls.cert))
        backoff_ms = int(min(cfg.max_backoff_s, 5.0) * 1000)
        options = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.min_reconnect_backoff_ms", 200),
                   ("grpc.max_reconnect_backoff_ms", backoff_ms)]
        if secure:
            creds = grpc.ssl_channel_credentials(*tls_files(tls))
            self._channel = grpc.secure_channel(target, creds, options)
        else:
            self._channel = grpc.insecure_channel(target, options)
        self._calls = {"metrics": MetricsServiceStub(self._channel).Export, "logs": LogsServiceStub(self._channel).Export}
        self._metadata = [(k.lower(), v) for k, v in headers.items()]
        self._compression = grpc.Compression.Gzip if cfg.compression == "gzip" else grpc.Compression.NoCompression
        self._timeout = cfg.timeout_s

    def send(self, kind: str, request: Message) -> None:
        try:
            self._calls[kind](request, metadata=self._metadata, timeout=self._timeout, compression=self._compression)
        except grpc.RpcError as exc:
            raise ExportFailed(f"{exc.code().name}: {exc.details()}", exc.code() in RETRYABLE_GRPC) from None

    def close(self) -> None:
        self._channel.close()


class HttpTransport:
    def __init__(self, cfg: OtlpConfig, headers: Dict[str, str]):
        self._base = cfg.endpoint.rstrip("/")
        if not self._base.startswith(("http://", "https://")):
            raise UserError(f"export.otlp.endpoint: OTLP/HTTP needs an http:// or https:// URL, got {cfg.endpoint!r}")
        self._headers = {"Content-Type": "application/x-protobuf", **headers}
        self._gzip = cfg.compression == "gzip"
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._timeout = cfg.timeout_s
        self._context = None
        if self._base.startswith("https://"):
            tls = cfg.tls
            tls_files(tls)  # checked; ssl reads them again by name (a CA bundle may hold non-ASCII comments)
            try:
                self._context = ssl.create_default_context(cafile=tls.ca)
                if tls.cert:
                    self._context.load_cert_chain(tls.cert, tls.key)
            except (OSError, ssl.SSLError) as exc:
                raise UserError(f"export.otlp.tls: cannot use the CA, certificate or key: {exc}") from None
            if tls.insecure:
                self._context.check_hostname = False
                self._context.verify_mode = ssl.CERT_NONE

    def send(self, kind: str, request: Message) -> None:
        body = request.SerializeToString()
        if self._gzip:
            body = gzip.compress(body, compresslevel=5)
        req = urllib.request.Request(f"{self._base}/v1/{kind}", data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self._timeout, context=self._context) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            raise ExportFailed(f"HTTP {exc.code}", exc.code in RETRYABLE_HTTP) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ExportFailed(str(getattr(exc, "reason", exc)), True) from None

    def close(self) -> None:
        pass
