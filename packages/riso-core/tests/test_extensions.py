"""Per-app state in the registry, and capabilities one feature offers another."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

import riso

CORE = ">=0.1,<0.2"
GREETER: riso.Capability[Any] = riso.Capability("greeter", "says hello (a test's)")


class Thing:
    pass


def test_hooks_find_the_registry_and_core_settings_on_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISO_ENV", "production")
    seen: list[bool] = []

    def hook(app: FastAPI, _settings: Any) -> None:
        seen.append(riso.registry(app).core.is_production)

    riso.include(FastAPI(), features=[riso.Feature(name="a", core=CORE, on_include=hook)])
    assert seen == [True]


def test_a_feature_keeps_its_object_under_its_name_and_the_accessor_checks_its_type() -> None:
    thing = Thing()

    def hook(app: FastAPI, _settings: Any) -> None:
        riso.registry(app).extensions["a"] = thing

    app = FastAPI()
    riso.include(app, features=[riso.Feature(name="a", core=CORE, on_include=hook)])
    assert riso.extension(app, "a", Thing) is thing
    with pytest.raises(riso.RisoError, match="'b' is not active"):
        riso.extension(app, "b", Thing)
    with pytest.raises(riso.RisoError, match="no str"):
        riso.extension(app, "a", str)
    with pytest.raises(riso.RisoError, match="has not been called"):
        riso.extension(FastAPI(), "a", Thing)


def test_a_capability_provided_by_one_feature_is_looked_up_by_another() -> None:
    found: list[object] = []

    def provider(app: FastAPI, _settings: Any) -> None:
        riso.registry(app).provide(GREETER, "hello")

    def consumer(app: FastAPI, _settings: Any) -> None:
        found.append(riso.registry(app).lookup(GREETER))
        found.append(riso.registry(app).lookup(riso.REQUEST_AUTHENTICATOR))

    riso.include(
        FastAPI(),
        features=[
            riso.Feature(name="provider", core=CORE, on_include=provider),
            riso.Feature(name="consumer", core=CORE, requires=("provider",), on_include=consumer),
        ],
    )
    assert found == ["hello", None]


def test_capabilities_are_keys_by_identity_not_by_name() -> None:
    other: riso.Capability[Any] = riso.Capability("greeter", "another with the same name")

    def provider(app: FastAPI, _settings: Any) -> None:
        riso.registry(app).provide(GREETER, "hello")

    app = FastAPI()
    riso.include(app, features=[riso.Feature(name="p", core=CORE, on_include=provider)])
    assert riso.registry(app).lookup(other) is None
    assert repr(GREETER) == "<Capability greeter>"


def test_a_failing_hook_leaves_no_registry_behind() -> None:
    def hook(app: FastAPI, _settings: Any) -> None:
        raise RuntimeError("hook failed")

    app = FastAPI()
    with pytest.raises(RuntimeError, match="hook failed"):
        riso.include(app, features=[riso.Feature(name="a", core=CORE, on_include=hook)])
    assert getattr(app.state, "riso", None) is None
