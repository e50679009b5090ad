"""Characters that split a log record or drive a terminal are escaped by every renderer."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient

import riso_obs
from riso_obs._access_log import encode_json_string

#: NEL (C1), line and paragraph separators, another C1 control
SPLITTERS = ("\u0085", "\u2028", "\u2029", "\u009b")
ESC = "\x1b"


def _json_records(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` (split as consumers split it) parsed: one record each."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "path", ["/v1/things/a%C2%85b", "/v1/things/a\u2028b", "/v1/things/a%E2%80%A9b"]
)
def test_fast_access_line_escapes_line_separators_in_the_path(
    make_app: Any, logs: Any, path: str
) -> None:
    with TestClient(make_app()) as client:
        client.get(path)
    [access] = [r for r in _json_records(logs.text) if r.get("logger") == "riso.access"]
    assert access["path"][:-3] == "/v1/things/"
    assert access["path"][-3::2] == "ab"
    assert access["path"][-2] in SPLITTERS


def test_json_lines_escape_separators_in_captured_headers_and_values(
    make_app: Any, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISO_OBS_LOG_HEADERS", "X-Note")
    with TestClient(make_app()) as client:
        # a header is latin-1 on the wire: byte 0x85 is U+0085 once decoded
        client.get("/items/1", headers={"X-Note": b"a\x85b"})
    structlog.get_logger("riso.test").info(
        "value", email=f"{ESC}[31mred@example.com", note="x\u2028y\u2029z\u0085"
    )
    assert ESC not in logs.text
    records = _json_records(logs.text)
    [access] = [r for r in records if r.get("logger") == "riso.access"]
    assert "\x85" in access["headers"]["x-note"]
    [value] = [r for r in records if r.get("event") == "value"]
    assert value["email"].startswith(ESC)
    assert value["note"] == "x\u2028y\u2029z\u0085"


def test_console_lines_escape_separators_and_escape_sequences(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISO_OBS_LOG_FORMAT", "console")
    monkeypatch.setenv("RISO_OBS_LOG_HEADERS", "X-Note")
    stream = io.StringIO()
    riso_obs.set_stream(stream)
    with TestClient(make_app()) as client:
        client.get("/items/a%C2%85b%E2%80%A8c", headers={"X-Note": b"a\x85b"})
    log = structlog.get_logger("riso.test")
    log.info(f"registered {ESC}]0;pwned{ESC}\\", email=f"{ESC}[2J{ESC}[31mx@example.com")
    try:
        raise ValueError(f"bad {ESC}[31m input\u2028")
    except ValueError:
        log.exception("failed")
    text = stream.getvalue()
    assert ESC not in text
    for splitter in SPLITTERS[:3]:
        assert splitter not in text
    lines = text.splitlines()
    assert sum("riso.access" in line for line in lines) == 1
    [registered] = [line for line in lines if "registered" in line]
    assert "\\u001b[2J" in registered
    assert "\\u001b]0;pwned" in registered
    assert any("bad \\u001b[31m input\\u2028" in line for line in lines)


def test_encode_json_string_keeps_ascii_as_json_writes_it() -> None:
    for value in ("/health", '/a"b\\c', "/\n\t\x1b", "/\u00e9t\u00e9"):
        assert encode_json_string(value) == json.dumps(value, ensure_ascii=False)
    assert encode_json_string("/a\u0085\u2028\u2029") == '"/a\\u0085\\u2028\\u2029"'
    assert json.loads(encode_json_string("/a\u0085\u2028\u2029")) == "/a\u0085\u2028\u2029"
