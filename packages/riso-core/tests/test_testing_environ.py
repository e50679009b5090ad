"""riso.testing.clean_environ: riso's variables never leak into a subprocess."""

from __future__ import annotations

import pytest

from riso.testing import clean_environ


def test_drops_riso_and_the_variables_riso_reads() -> None:
    base = {
        "PATH": "/bin",
        "HOME": "/home/u",
        "RISO_DB_URL": "sqlite://",
        "RISO_CI": "1",
        "DATABASE_URL": "postgresql://x",
        "CELERY_BROKER_URL": "redis://",
        "CELERY_RESULT_BACKEND": "redis://",
        "OTEL_SERVICE_NAME": "svc",
        "OTHER_OTEL": "kept",
    }
    assert clean_environ(base) == {"PATH": "/bin", "HOME": "/home/u", "OTHER_OTEL": "kept"}


def test_overrides_are_added_and_base_is_not_changed() -> None:
    base = {"PATH": "/bin", "RISO_ENV": "production"}
    env = clean_environ(base, RISO_ENV="development", EXTRA="1")
    assert env == {"PATH": "/bin", "RISO_ENV": "development", "EXTRA": "1"}
    assert base == {"PATH": "/bin", "RISO_ENV": "production"}


def test_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_SOMETHING", "x")
    monkeypatch.setenv("KEPT_VARIABLE", "y")
    env = clean_environ()
    assert "RISO_SOMETHING" not in env
    assert env["KEPT_VARIABLE"] == "y"
