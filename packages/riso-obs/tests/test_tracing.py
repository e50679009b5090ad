"""Traces: one server span per request, named by route, ids shared with the logs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import SpanKind, StatusCode

import riso
import riso_obs
from riso.testing import clean_environ
from riso_obs import _tracing


@pytest.fixture
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    riso_obs.configure_tracing(exporter, simple=True)
    return exporter


def server_spans(exporter: InMemorySpanExporter) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]


def test_one_server_span_per_request_named_by_route(
    make_app: Any, logs: Any, spans: InMemorySpanExporter
) -> None:
    with TestClient(make_app()) as client:
        first = client.get("/items/1", headers={"X-Request-ID": "span-req-1"})
        client.get("/items/2")
        client.get("/v1/things/x")
    found = server_spans(spans)
    assert [s.name for s in found] == [
        "GET /items/{item_id}",
        "GET /items/{item_id}",
        "GET /v1/things/{thing_id}",
    ]
    assert len(spans.get_finished_spans()) == 3  # FastAPI's own spans are off: no duplicates
    span = found[0]
    assert span.attributes["riso.request_id"] == first.headers["x-request-id"] == "span-req-1"
    assert span.attributes["http.route"] == "/items/{item_id}"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["http.request.method"] == "GET"


@pytest.mark.parametrize("io_spans", [False, True])
def test_receive_and_send_sub_spans_only_when_asked(
    make_app: Any,
    logs: Any,
    spans: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
    io_spans: bool,
) -> None:
    if io_spans:
        monkeypatch.setenv("RISO_OBS_TRACE_IO_SPANS", "true")
    with TestClient(make_app()) as client:
        reply = client.post("/login", json={"email": "a@example.com", "password": "pw-123456"})
    assert reply.status_code == 200
    [server] = server_spans(spans)
    children = [s for s in spans.get_finished_spans() if s.kind is SpanKind.INTERNAL]
    if not io_spans:
        assert children == []
        return
    assert {s.parent.span_id for s in children} == {server.context.span_id}
    events = [(s.name, s.attributes["asgi.event.type"]) for s in children]
    assert ("POST http receive", "http.request") in events
    assert events[-2:] == [
        ("POST http send", "http.response.start"),
        ("POST http send", "http.response.body"),
    ]
    [start] = [s for s in children if s.attributes["asgi.event.type"] == "http.response.start"]
    assert start.attributes["http.response.status_code"] == 200


def test_log_lines_carry_the_span_trace_id(
    make_app: Any, logs: Any, spans: InMemorySpanExporter
) -> None:
    with TestClient(make_app()) as client:
        client.get("/items/9")
    [span] = server_spans(spans)
    trace_id = format(span.context.trace_id, "032x")
    inside = [r for r in logs.records() if r.get("logger", "").startswith("riso.")]
    assert {r["event"] for r in inside} >= {"item fetched", "stdlib says 9", "request"}
    assert {r["trace_id"] for r in inside} == {trace_id}
    [access] = logs.access()
    assert access["span_id"] == format(span.context.span_id, "016x")


def test_500_span_is_an_error_with_the_exception(
    make_app: Any, logs: Any, spans: InMemorySpanExporter
) -> None:
    with TestClient(make_app()) as client:
        client.get("/boom")
    [span] = server_spans(spans)
    assert span.name == "GET /boom"
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    assert "hunter2" not in str(span.events[0].attributes)


def test_unmatched_path_span_is_named_by_method_only(
    make_app: Any, logs: Any, spans: InMemorySpanExporter
) -> None:
    with TestClient(make_app()) as client:
        client.get("/does/not/exist")
    [span] = server_spans(spans)
    assert span.name == "GET"
    assert "http.route" not in span.attributes


def test_incoming_traceparent_is_the_parent(
    make_app: Any, logs: Any, spans: InMemorySpanExporter
) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with TestClient(make_app()) as client:
        client.get("/items/1", headers={"traceparent": parent})
    [span] = server_spans(spans)
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == "b7ad6b7169203331"
    assert logs.access()[0]["trace_id"] == "0af7651916cd43dd8448eb211c80319c"


def test_parent_based_sampling_follows_an_unsampled_parent(
    make_app: Any, logs: Any, spans: InMemorySpanExporter
) -> None:
    with TestClient(make_app()) as client:
        response = client.get(
            "/items/1",
            headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"},
        )
    assert response.status_code == 200
    assert server_spans(spans) == []


def test_sampler_from_code(make_app: Any, logs: Any) -> None:
    exporter = InMemorySpanExporter()
    riso_obs.configure_tracing(exporter, simple=True, sampler=ParentBased(ALWAYS_OFF))
    with TestClient(make_app()) as client:
        response = client.get("/items/1")
    assert response.headers["x-request-id"]
    assert exporter.get_finished_spans() == ()


def test_excluded_paths_are_not_traced(
    make_app: Any, logs: Any, spans: InMemorySpanExporter
) -> None:
    with TestClient(make_app()) as client:
        client.get("/metrics")
    assert spans.get_finished_spans() == ()


def test_tracing_is_off_without_an_exporter(make_app: Any, logs: Any) -> None:
    with TestClient(make_app()) as client:
        client.get("/items/1")
    assert _tracing.tracer() is None
    assert "trace_id" not in logs.access()[0]
    assert _tracing.STATE.provider is None
    from opentelemetry.sdk.trace import TracerProvider

    assert not isinstance(trace.get_tracer_provider(), TracerProvider)  # nothing made global


def test_tracing_setting_off_ignores_the_exporter(
    make_app: Any, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISO_OBS_TRACING", "false")
    exporter = InMemorySpanExporter()
    riso_obs.configure_tracing(exporter, simple=True)
    with TestClient(make_app()) as client:
        client.get("/items/1")
    assert not [s for s in exporter.get_finished_spans() if "riso.request_id" in s.attributes]


def test_console_exporter_and_service_name_from_otel_variables() -> None:
    code = textwrap.dedent(
        """
        import riso, riso_obs
        from fastapi import FastAPI
        from fastapi.testclient import TestClient

        app = FastAPI()

        @app.get("/items/{item_id}")
        async def item(item_id: int) -> dict:
            return {"id": item_id}

        riso.include(app, features=[riso_obs.feature])
        with TestClient(app) as client:
            client.get("/items/1")
        """
    )
    env = clean_environ()
    env |= {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "svc-from-env",
        "RISO_OBS_LOG_FORMAT": "json",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert '"name": "GET /items/{item_id}"' in result.stdout
    assert '"service.name": "svc-from-env"' in result.stdout


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, []),
        ({"OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ["otlp", "console"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}, []),
    ],
)
def test_exporter_selection_table(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], names: list[str]
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert _tracing.exporter_names() == names


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "does not support"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"},
            "not supported",
        ),
    ],
)
def test_bad_otel_configuration_fails_include_clearly(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from fastapi import FastAPI

    with pytest.raises(riso_obs.TracingConfigError, match=message):
        riso.include(FastAPI(), features=[riso_obs.feature])


def test_an_existing_sdk_provider_is_reused(make_app: Any, logs: Any) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    with TestClient(make_app()) as client:
        client.get("/items/1")
    assert [s.name for s in exporter.get_finished_spans()] == ["GET /items/{item_id}"]
    assert _tracing.STATE.owned is False
