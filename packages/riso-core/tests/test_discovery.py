"""Discovery through real package metadata: ordering, requirements, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI

import riso
from riso._include import core_version

Install = Callable[..., Path]


@pytest.fixture
def feature(
    install: Install, suffix: str, feature_source: Callable[..., str]
) -> Callable[..., None]:
    """``feature(name, dist=None, **Feature kwargs)`` installs a one-feature distribution."""

    def _feature(name: str, dist: str | None = None, **kw: object) -> None:
        module = f"{name}_{suffix}"
        source = feature_source(name, **kw)
        install(dist or f"riso-{name}", "1.0.0", {module: source}, {name: f"{module}:feature"})

    return _feature


@pytest.mark.parametrize("reverse", [False, True], ids=["a-first", "z-first"])
def test_order_depends_on_requires_and_names_never_on_install_order(
    feature: Callable[..., None], reverse: bool
) -> None:
    specs = [
        ("zeta", ()),
        ("alpha", ("zeta",)),
        ("beta", ()),
        ("gamma", ("alpha", "beta")),
    ]
    for name, requires in reversed(specs) if reverse else specs:
        feature(name, requires=requires)

    registry = riso.include(FastAPI(), only=["zeta", "alpha", "beta", "gamma"])

    assert [info.name for info in registry.active] == ["beta", "zeta", "alpha", "gamma"]
    assert [info.order for info in registry.active] == [0, 1, 2, 3]
    assert {info.distribution for info in registry.active} == {
        "riso-beta",
        "riso-zeta",
        "riso-alpha",
        "riso-gamma",
    }
    assert all(info.version == "1.0.0" for info in registry.active)


def test_missing_requirement_says_what_to_install(feature: Callable[..., None]) -> None:
    feature("zauth", requires=("zdb",))
    with pytest.raises(riso.MissingRequirementError) as err:
        riso.include(FastAPI(), only=["zauth"])
    assert str(err.value) == "riso-zauth requires the feature 'zdb': pip install riso-zdb"


def test_cycle_is_reported_with_its_path(feature: Callable[..., None]) -> None:
    feature("ca", requires=("cb",))
    feature("cb", requires=("cc",))
    feature("cc", requires=("ca",))
    with pytest.raises(riso.CycleError) as err:
        riso.include(FastAPI(), only=["ca", "cb", "cc"])
    assert str(err.value) == "features require each other in a cycle: ca -> cb -> cc -> ca"


def test_same_name_from_two_distributions_names_both(
    install: Install, suffix: str, feature: Callable[..., None], feature_source: Callable[..., str]
) -> None:
    feature("dup", dist="riso-dup")
    module = f"dup2_{suffix}"
    install("other-dup", "2.0.0", {module: feature_source("dup")}, {"dup": f"{module}:feature"})
    with pytest.raises(riso.DuplicateFeatureError) as err:
        riso.include(FastAPI(), only=["dup"])
    message = str(err.value)
    assert "feature 'dup' is provided by both" in message
    assert "riso-dup 1.0.0" in message
    assert "other-dup 2.0.0" in message
    assert message.endswith("uninstall one of them")


def test_incompatible_core_gives_both_versions_and_the_range(feature: Callable[..., None]) -> None:
    feature("future", core=">=9.0,<10")
    with pytest.raises(riso.IncompatibleCoreError) as err:
        riso.include(FastAPI(), only=["future"])
    assert str(err.value).startswith(
        "riso-future 1.0.0 supports riso-core <10,>=9.0 "
        f"but riso-core {core_version()} is installed"
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("missing_module_xyz:feature", "cannot load feature 'bad'"),
        ("{module}:not_there", "cannot load feature 'bad'"),
        ("{module}:NOT_A_FEATURE", "is a str, not a riso.Feature"),
        ("{module}:feature", "declares a feature named 'other' under the entry name 'bad'"),
    ],
)
def test_unusable_entry_points_are_discovery_errors(
    install: Install,
    suffix: str,
    feature_source: Callable[..., str],
    target: str,
    expected: str,
) -> None:
    module = f"bad_{suffix}"
    source = feature_source("other") + "NOT_A_FEATURE = 'x'\n"
    install("riso-bad", "0.1.0", {module: source}, {"bad": target.format(module=module)})
    with pytest.raises(riso.DiscoveryError, match=expected):
        riso.include(FastAPI(), only=["bad"])


def test_invalid_settings_list_every_bad_variable_at_once(
    feature: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    feature("sa", settings="size: int = 1\nname: str\n")
    feature(
        "sb",
        settings="url: str = Field(validation_alias=AliasChoices('RISO_SB_URL', 'SB_URL'))\n",
    )
    monkeypatch.setenv("RISO_SA_SIZE", "not-a-number-secret")
    app = FastAPI()
    with pytest.raises(riso.SettingsError) as err:
        riso.include(app, only=["sa", "sb"])
    assert sorted(err.value.problems) == [
        ("RISO_SA_NAME", "sa", "required but not set"),
        (
            "RISO_SA_SIZE",
            "sa",
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        ("RISO_SB_URL or SB_URL", "sb", "required but not set"),
    ]
    assert "not-a-number-secret" not in str(err.value)  # values may be secrets
    assert not hasattr(app.state, "riso")  # nothing touched


def test_settings_come_from_the_environment(
    feature: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    feature("sc", settings="size: int = 1\n")
    monkeypatch.setenv("RISO_SC_SIZE", "42")
    registry = riso.include(FastAPI(), only=["sc"])
    assert registry.settings_of("sc").size == 42


@pytest.mark.parametrize(
    ("env", "exclude", "active", "reason"),
    [
        ("", (), ["da", "db_"], None),
        ("db_", (), ["da"], "disabled by RISO_DISABLE"),
        (" db_ , ", (), ["da"], "disabled by RISO_DISABLE"),
        ("", ("db_",), ["da"], "excluded by exclude="),
    ],
)
def test_features_can_be_disabled_without_code_changes(
    feature: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    env: str,
    exclude: tuple[str, ...],
    active: list[str],
    reason: str | None,
) -> None:
    feature("da")
    feature("db_", dist="riso-dbx")
    monkeypatch.setenv("RISO_DISABLE", env)
    registry = riso.include(FastAPI(), only=["da", "db_"], exclude=exclude)
    assert [info.name for info in registry.active] == active
    info = registry.get("db_")
    assert info is not None
    assert info.disabled_reason == reason
    assert info.version == "1.0.0"  # known without importing the disabled feature


def test_a_disabled_feature_is_never_imported(
    install: Install, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"broken_{suffix}"
    install(
        "riso-broken",
        "1.0.0",
        {module: "raise RuntimeError('boom')\n"},
        {"broken": f"{module}:feature"},
    )
    monkeypatch.setenv("RISO_DISABLE", "broken")
    registry = riso.include(FastAPI(), only=["broken"])
    assert registry.active == ()


def test_disabling_a_required_feature_is_an_error(
    feature: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    feature("base")
    feature("top", requires=("base",))
    monkeypatch.setenv("RISO_DISABLE", "base")
    with pytest.raises(riso.DisabledRequirementError) as err:
        riso.include(FastAPI(), only=["base", "top"])
    assert str(err.value) == (
        "riso-top requires the feature 'base', which is disabled by RISO_DISABLE: "
        "enable 'base' or disable 'top' too"
    )


def test_only_with_an_unknown_name_is_an_error() -> None:
    with pytest.raises(riso.RisoError, match="only= names features that are not installed: nope"):
        riso.include(FastAPI(), only=["nope"])


def test_unknown_names_in_riso_disable_warn(
    feature: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    feature("wa")
    monkeypatch.setenv("RISO_DISABLE", "typo")
    with pytest.warns(
        UserWarning, match="RISO_DISABLE names features that are not installed: typo"
    ):
        riso.include(FastAPI(), only=["wa"])


def test_a_list_setting_that_is_not_json_is_reported_like_any_invalid_variable(
    feature: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    feature("sj", settings="items: list[str] = []\n")
    monkeypatch.setenv("RISO_SJ_ITEMS", "[not json")
    with pytest.raises(riso.SettingsError) as err:
        riso.include(FastAPI(), only=["sj"])
    assert err.value.problems == [("RISO_SJ_ITEMS", "sj", "is not valid JSON")]
