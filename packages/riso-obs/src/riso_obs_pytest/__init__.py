"""riso-obs' pytest plugin (``pytest11`` entry point): the test's log records and metric values.

- ``captured_logs``: the structured log records written during the test, as
  dicts, exactly as riso-obs wrote them (after redaction); the access line of
  each request is among them, with its ``request_id``.
- ``metrics``: ``metrics(name, **labels)`` reads a metric's current value from
  the Prometheus registry (``None`` when it has no such sample).

Under the plugin logs are JSON lines (``RISO_OBS_LOG_FORMAT=json``), so every
record can be read back.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from typing import Any, overload

import pytest

__all__ = [
    "CapturedLogs",
    "MetricReader",
    "captured_logs",
    "metrics",
    "pytest_riso_test_environ",
]


def pytest_riso_test_environ(config: pytest.Config) -> dict[str, str]:
    return {"RISO_OBS_LOG_FORMAT": "json"}


class CapturedLogs(Sequence[dict[str, Any]]):
    """The records written so far, read again on every access (a live view)."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def records(self) -> list[dict[str, Any]]:
        from riso_obs import flush_logs

        flush_logs()
        found: list[dict[str, Any]] = []
        for line in self._stream.getvalue().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # not a record (a console line)
            if isinstance(record, dict):
                found.append(record)
        return found

    @property
    def text(self) -> str:
        """Everything written, as text."""
        return self._stream.getvalue()

    def where(self, **fields: Any) -> list[dict[str, Any]]:
        """The records whose fields have these values (``where(event="request")``)."""
        return [r for r in self.records if all(r.get(k) == v for k, v in fields.items())]

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | Sequence[dict[str, Any]]:
        return self.records[index]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)


@pytest.fixture
def captured_logs() -> Iterator[CapturedLogs]:
    """The log records (dicts, after redaction) riso-obs writes during this test."""
    from riso_obs import flush_logs, set_stream

    stream = io.StringIO()
    flush_logs()
    set_stream(stream)
    try:
        yield CapturedLogs(stream)
    finally:
        flush_logs()
        set_stream(None)


class MetricReader:
    """``metrics(name, **labels)``: the current value of one sample, or None."""

    def __call__(self, name: str, **labels: str) -> float | None:
        from prometheus_client import REGISTRY

        value = REGISTRY.get_sample_value(name, {k: str(v) for k, v in labels.items()})
        return None if value is None else float(value)


@pytest.fixture
def metrics() -> MetricReader:
    """Read a metric's current value: ``metrics("http_requests_total", method="GET")``."""
    return MetricReader()
