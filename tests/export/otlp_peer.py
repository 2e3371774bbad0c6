"""OTLP receivers for tests: a grpcio server on opentelemetry-proto's servicers, and OTLP/HTTP."""
from __future__ import annotations

import gzip
import ssl
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import List, Optional, Tuple

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc

from tests.export.certs import Certs

Received = Tuple[str, object, dict]  # ("metrics" | "logs", request, headers/metadata)


class _Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.received: List[Received] = []
        self.arrived = threading.Condition(self.lock)

    def add(self, kind: str, request, headers: dict) -> None:
        with self.arrived:
            self.received.append((kind, request, headers))
            self.arrived.notify_all()

    def wait_for(self, kind: str, count: int = 1, timeout: float = 10.0) -> List[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.of(kind)) >= count, timeout)
            got = self.of(kind)
        assert len(got) >= count, f"{len(got)} {kind} requests within {timeout}s, wanted {count}"
        return got

    def of(self, kind: str) -> List[Received]:
        return [r for r in self.received if r[0] == kind]


class GrpcReceiver(_Store, metrics_service_pb2_grpc.MetricsServiceServicer, logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, port: int = 0, certs: Optional[Certs] = None, gzip_allowed: bool = True):
        super().__init__()
        self.port, self.certs, self.gzip_allowed = port, certs, gzip_allowed
        self.server = None

    def start(self) -> "GrpcReceiver":
        options = [] if self.gzip_allowed else [("grpc.compression_enabled_algorithms_bitset", 1)]
        self.server = grpc.server(futures.ThreadPoolExecutor(4), options=options)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(self, self.server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(self, self.server)
        address = f"127.0.0.1:{self.port}"
        if self.certs:
            creds = grpc.ssl_server_credentials(
                [(Path(self.certs.server_key).read_bytes(), Path(self.certs.server_cert).read_bytes())],
                root_certificates=Path(self.certs.ca).read_bytes(), require_client_auth=True)
            self.port = self.server.add_secure_port(address, creds)
        else:
            self.port = self.server.add_insecure_port(address)
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(0).wait()

    def Export(self, request, context):  # noqa: N802 (one name for both services)
        headers = dict(context.invocation_metadata())
        if isinstance(request, metrics_service_pb2.ExportMetricsServiceRequest):
            self.add("metrics", request, headers)
            return metrics_service_pb2.ExportMetricsServiceResponse()
        self.add("logs", request, headers)
        return logs_service_pb2.ExportLogsServiceResponse()


class HttpReceiver(_Store):
    """POST /v1/metrics and /v1/logs, protobuf bodies, gzip when Content-Encoding says so."""

    def __init__(self, certs: Optional[Certs] = None):
        super().__init__()
        store = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                kinds = {"/v1/metrics": ("metrics", metrics_service_pb2.ExportMetricsServiceRequest,
                                         metrics_service_pb2.ExportMetricsServiceResponse),
                         "/v1/logs": ("logs", logs_service_pb2.ExportLogsServiceRequest,
                                      logs_service_pb2.ExportLogsServiceResponse)}
                if self.path not in kinds:
                    self.send_error(404)
                    return
                kind, request_cls, response_cls = kinds[self.path]
                store.add(kind, request_cls.FromString(body), {k.lower(): v for k, v in self.headers.items()})
                reply = response_cls().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if certs:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=certs.ca)
            context.load_cert_chain(certs.server_cert, certs.server_key)
            context.verify_mode = ssl.CERT_REQUIRED
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "HttpReceiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
