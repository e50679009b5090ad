"""Check outputs are published: no credential, secret or traceback survives."""

from __future__ import annotations

import pytest

from riso_health import sanitize_text
from riso_health._sanitize import MAX_LENGTH, describe

CASES = [
    # (raw message, what must survive, what must not)
    (
        "could not connect to postgresql://app:s3cret@db.internal:5432/prod",
        "postgresql://***@db.internal:5432/prod",
        "s3cret",
    ),
    ("redis://:s3cret@cache:6379/0 refused", "redis://***@cache:6379/0 refused", "s3cret"),
    ("amqp://guest:s3cret@mq// down", "amqp://***@mq// down", "s3cret"),
    ("host=db user=app password=s3cret dbname=prod", "password=***", "s3cret"),
    ("failed: PASSWORD = 's3cret pass' rejected", "PASSWORD = ***", "s3cret"),
    ("GET /x?api_key=s3cret&page=2 failed", "api_key=***&page=2", "s3cret"),
    ("token: s3cret", "token: ***", "s3cret"),
    ("Authorization: Bearer s3cretabcdef0123", "Authorization: ***", "s3cret"),
    ("upstream said Bearer s3cretabcdef0123", "Bearer ***", "s3cret"),
    ("client_secret=s3cret", "client_secret=***", "s3cret"),
    ("{'password': 's3cret', 'user': 'app'}", "'password': ***", "s3cret"),
    ('{"api_key": "s3cret"}', '"api_key": ***', "s3cret"),
    (
        'boom\nTraceback (most recent call last):\n  File "/app/x.py", line 3\n',
        "boom",
        "Traceback",
    ),
    ("  \n  second line only\n", "second line only", "\n"),
]


@pytest.mark.parametrize(("raw", "kept", "gone"), CASES)
def test_sanitize_keeps_the_reason_and_drops_the_secret(raw: str, kept: str, gone: str) -> None:
    clean = sanitize_text(raw)
    assert kept in clean
    assert gone not in clean


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        ("connection refused", "connection refused"),
        ("x" * 500, "x" * (MAX_LENGTH - 3) + "..."),
    ],
)
def test_sanitize_is_short_and_single_line(raw: str, expected: str) -> None:
    assert sanitize_text(raw) == expected


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), "ConnectionRefusedError: "),
        (TimeoutError(), "TimeoutError"),
        (ValueError("dsn postgresql://u:pw@h/db"), "ValueError: dsn postgresql://***@h/db"),
    ],
)
def test_describe_uses_the_type_name_never_the_repr(exc: BaseException, expected: str) -> None:
    text = describe(exc)
    assert text.startswith(expected)
    assert "(" not in text.split(":")[0]
    assert "pw" not in text
