"""The public surface: ``__all__``, a side-effect-free import, the entry point."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import riso
import riso_health


def test_all_lists_every_public_name_and_only_existing_ones() -> None:
    public = {
        name
        for name in vars(riso_health)
        if not name.startswith("_") and not isinstance(getattr(riso_health, name), type(sys))
    }
    assert set(riso_health.__all__) == public
    for name in riso_health.__all__:
        assert hasattr(riso_health, name), name
    assert riso_health.__all__ == sorted(riso_health.__all__, key=lambda n: (not n.isupper(), n))


def test_import_pulls_in_no_heavy_or_optional_module() -> None:
    code = (
        "import sys, riso_health\n"
        "heavy = ['sqlalchemy', 'httpx', 'prometheus_client', 'riso_auth', 'riso_db',"
        " 'uvicorn', 'structlog', 'celery', 'psycopg']\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "import threading\n"
        "print(loaded, threading.active_count())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[] 1"


def test_the_feature_is_registered_under_the_riso_features_entry_point() -> None:
    (point,) = [ep for ep in entry_points(group="riso.features") if ep.name == "health"]
    assert point.value == "riso_health:feature"
    loaded = point.load()
    assert loaded is riso_health.feature
    assert isinstance(loaded, riso.Feature)
    assert loaded.name == "health"
    assert loaded.requires == ()
    paths = {route.path for router in loaded.routers for route in router.routes}  # type: ignore[attr-defined]
    assert paths == {"/health", "/ready", "/startup"}


def test_every_error_derives_from_the_package_root_and_riso_error() -> None:
    assert issubclass(riso_health.HealthError, riso.RisoError)
    for error in (riso_health.CheckFailedError, riso_health.CheckRegistrationError):
        assert issubclass(error, riso_health.HealthError)
