"""``RISO_TRUSTED_PROXIES``: validated, and the one thing that turns uvicorn's proxy headers on."""

from __future__ import annotations

import pytest

from riso import SettingsError
from riso._serve import uvicorn_options
from riso._settings import CoreSettings, load_settings


def test_no_proxy_configured_turns_proxy_headers_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RISO_TRUSTED_PROXIES", raising=False)
    core = CoreSettings()
    options = uvicorn_options(core.server_limits, core.trusted_proxy_list)
    assert options["proxy_headers"] is False
    assert options["forwarded_allow_ips"] == []


def test_configured_proxies_are_passed_to_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_TRUSTED_PROXIES", " 10.0.0.0/8, 127.0.0.1 ,::1")
    core = CoreSettings()
    options = uvicorn_options(core.server_limits, core.trusted_proxy_list)
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == ["10.0.0.0/8", "127.0.0.1", "::1"]


def test_an_invalid_proxy_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_TRUSTED_PROXIES", "10.0.0.0/8,localhost")
    with pytest.raises(SettingsError, match="RISO_TRUSTED_PROXIES"):
        load_settings([("core", CoreSettings)])
