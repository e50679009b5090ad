"""SQLAlchemy child spans under the server span when riso-db is active."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text

import riso
import riso_obs

riso_db = pytest.importorskip("riso_db")


def db_app() -> FastAPI:
    app = FastAPI()

    @app.get("/count")
    async def count(session: riso_db.DbSession) -> dict[str, int]:  # type: ignore[name-defined]
        value = (await session.execute(text("SELECT 41 + 1"))).scalar_one()
        return {"value": int(value)}

    riso.include(app, features=[riso_db.feature, riso_obs.feature])
    return app


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'obs.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_db_endpoint_produces_a_child_span(
    db_url: str, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISO_DB_URL", db_url)
    exporter = InMemorySpanExporter()
    riso_obs.configure_tracing(exporter, simple=True)
    with TestClient(db_app()) as client:
        response = client.get("/count")
    assert response.json() == {"value": 42}
    spans = exporter.get_finished_spans()
    [server] = [s for s in spans if s.kind is SpanKind.SERVER]
    queries = [s for s in spans if s.kind is SpanKind.CLIENT and "41 + 1" in str(s.attributes)]
    assert len(queries) == 1
    [query] = queries
    assert server.name == "GET /count"
    assert query.parent is not None
    assert query.parent.span_id == server.context.span_id
    assert query.context.trace_id == server.context.trace_id
    assert query.name == f"SELECT {query.attributes['db.namespace']}"
    assert "/" not in query.name
    assert query.attributes["db.system"] == db_url.split(":")[0]
    assert query.attributes["db.operation.name"] == "SELECT"


def test_no_db_spans_outside_a_trace_or_when_tracing_is_off(
    tmp_path: Path, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISO_DB_URL", f"sqlite:///{tmp_path / 'off.db'}")
    with TestClient(db_app()) as client:
        assert client.get("/count").json() == {"value": 42}
    from riso_obs import _sqlalchemy

    assert _sqlalchemy._installed is False


def test_a_direct_query_gets_the_same_child_span(
    logs: Any, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    """riso-db sends a ``DirectQuery`` past SQLAlchemy's events; riso-obs's
    ``riso_db.query_observers`` entry point still gives it a span."""
    from importlib.metadata import entry_points

    from sqlalchemy import literal_column, select

    assert "riso_obs._sqlalchemy:observe_direct_query" in {
        e.value for e in entry_points(group="riso_db.query_observers")
    }
    direct = riso_db.DirectQuery(select(literal_column("40 + 2").label("value")))
    monkeypatch.setenv("RISO_DB_URL", postgres_url)
    exporter = InMemorySpanExporter()
    riso_obs.configure_tracing(exporter, simple=True)
    app = FastAPI()

    @app.get("/direct")
    async def read(session: riso_db.DbSession) -> dict[str, int]:  # type: ignore[name-defined]
        row = await direct.first(session, {})
        assert row is not None
        return {"value": int(row["value"])}

    riso.include(app, features=[riso_db.feature, riso_obs.feature])
    with TestClient(app) as client:
        assert client.get("/direct").json() == {"value": 42}
    spans = exporter.get_finished_spans()
    [server] = [s for s in spans if s.kind is SpanKind.SERVER]
    [query] = [s for s in spans if s.kind is SpanKind.CLIENT and "40 + 2" in str(s.attributes)]
    assert query.parent is not None
    assert query.parent.span_id == server.context.span_id
    assert query.attributes is not None
    assert query.attributes["db.system"] == "postgresql"
    assert query.name == f"SELECT {query.attributes['db.namespace']}"
