"""The public surface: ``__all__`` is exact and importing stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import riso_obs


def test_all_lists_every_public_name_and_only_existing_ones() -> None:
    public = {
        name
        for name in vars(riso_obs)
        if not name.startswith("_")
        and name not in {"annotations"}
        and not isinstance(getattr(riso_obs, name), type(sys))
    }
    assert set(riso_obs.__all__) == public
    for name in riso_obs.__all__:
        assert hasattr(riso_obs, name), name
    assert riso_obs.__all__ == sorted(riso_obs.__all__, key=lambda n: (not n.isupper(), n))


def test_feature_is_declared_as_obs_with_an_outer_middleware() -> None:
    feature = riso_obs.feature
    assert feature.name == "obs"
    assert [m.stage for m in feature.middleware] == ["outer"]
    assert feature.settings is riso_obs.ObsSettings


def test_import_has_no_heavy_or_global_side_effects() -> None:
    code = (
        "import json, logging, sys\n"
        "before = list(logging.getLogger().handlers)\n"
        "import riso_obs\n"
        "import prometheus_client\n"
        "names = list(prometheus_client.REGISTRY._names_to_collectors)\n"
        "print(json.dumps({\n"
        "  'modules': sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('sqlalchemy', 'uvicorn', 'grpc', 'riso_db', 'celery')"
        " or m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter'))),\n"
        "  'handlers_added': len(logging.getLogger().handlers) - len(before),\n"
        "  'http_metrics': [n for n in names if n.startswith('http_')],\n"
        "}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(out)
    assert result == {"modules": [], "handlers_added": 0, "http_metrics": []}


def test_grafana_dashboard_ships_and_queries_our_metrics() -> None:
    import importlib.resources
    import re

    path = importlib.resources.files("riso_obs") / "grafana" / "riso-http.json"
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] == "riso-http"
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    names = {n for e in exprs for n in re.findall(r"\b(http_[a-z_]+)\{", e)}
    assert names == {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_requests_in_progress",
    }
