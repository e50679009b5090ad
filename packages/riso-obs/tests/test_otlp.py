"""OTLP export by configuration alone: a real HTTP receiver on a loopback port."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import riso
import riso_obs
from riso_obs import _tracing

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.bodies.append((self.path, self.rfile.read(length)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    bodies: list[tuple[str, bytes]] = []
    handler = type("Receiver", (_Receiver,), {"bodies": bodies})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    finally:
        server.shutdown()
        server.server_close()


def test_otlp_endpoint_alone_exports_server_spans(
    collector: tuple[str, list[tuple[str, bytes]]], logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, bodies = collector
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "otlp-test-svc")
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> dict[str, int]:
        return {"id": order_id}

    riso.include(app, features=[riso_obs.feature])
    with TestClient(app) as client:
        request_id = client.get("/orders/3").headers["x-request-id"]
    # leaving the lifespan flushed the batch processor: the collector has it
    assert [path for path, _ in bodies] == ["/v1/traces"]
    export = ExportTraceServiceRequest.FromString(bodies[0][1])
    [resource_spans] = export.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "otlp-test-svc"
    spans = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert [s.name for s in spans] == ["GET /orders/{order_id}"]
    attributes = {a.key: a.value for a in spans[0].attributes}
    assert attributes["riso.request_id"].string_value == request_id
    assert attributes["http.route"].string_value == "/orders/{order_id}"


def test_grpc_protocol_without_its_exporter_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Simulate an install without the extra: a None entry makes the import fail.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.grpc", None)
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.grpc.trace_exporter", None)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(riso_obs.TracingConfigError, match=r"riso-obs\[otlp\]"):
        _tracing.exporters_from_env()
