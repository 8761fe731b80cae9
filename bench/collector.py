"""A local OTLP/HTTP trace collector for the benchmark: the hub exports its spans here as it
would to a real collector (protobuf over HTTP, in batches, from the SDK's batch span
processor), so "telemetry on" pays for the export, not only for making the spans. It counts
what arrives and throws it away.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

__all__ = ["Collector"]

TRACES_PATH = "/v1/traces"


@dataclass
class Received:
    """What the collector has been sent."""

    requests: int = 0
    spans: int = 0
    bytes: int = 0


class Collector:
    """An OTLP/HTTP endpoint on 127.0.0.1 in a thread of this process."""

    def __init__(self) -> None:
        self.received = Received()
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != TRACES_PATH:
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                request = ExportTraceServiceRequest.FromString(body)
                spans = sum(
                    len(scope.spans)
                    for resource in request.resource_spans
                    for scope in resource.scope_spans
                )
                collector._count(spans, len(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass  # one line per export would drown the benchmark's output

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """The URL to give `SESSHU_TELEMETRY__OTLP_ENDPOINT`."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{TRACES_PATH}"

    def _count(self, spans: int, size: int) -> None:
        with self._lock:
            self.received.requests += 1
            self.received.spans += spans
            self.received.bytes += size

    def spans(self) -> int:
        """Spans received so far."""
        with self._lock:
            return self.received.spans

    def start(self) -> Collector:
        """Serve, in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
