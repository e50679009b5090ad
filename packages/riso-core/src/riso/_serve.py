"""``riso serve``: run the app under uvicorn with riso's production limits.

The limits come from the core settings (``RISO_MAX_HEAD_SIZE``,
``RISO_HEAD_TIMEOUT``, ``RISO_LIMIT_CONCURRENCY``...), and so do the proxies
whose forwarded headers are believed (``RISO_TRUSTED_PROXIES``, none by
default); uvicorn and httptools are the optional extra ``riso-core[server]``.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from riso._cli_support import CliState, find_app_spec
from riso._exceptions import RisoError
from riso._settings import CoreSettings, ServerLimits, load_settings

_MISSING = "riso serve needs uvicorn and httptools: pip install 'riso-core[server]'"


def uvicorn_options(limits: ServerLimits, trusted_proxies: list[str]) -> dict[str, Any]:
    """uvicorn's own settings that carry riso's limits and its trusted proxies."""
    return {
        # uvicorn alone trusts X-Forwarded-For from 127.0.0.1 (or its own
        # FORWARDED_ALLOW_IPS) and rewrites the client address: riso's one
        # setting decides, and with no proxy configured nothing is rewritten
        "proxy_headers": bool(trusted_proxies),
        "forwarded_allow_ips": trusted_proxies,
        "timeout_keep_alive": limits.keep_alive_timeout,
        # riso's protocol keeps at most limit_concurrency connections open; one
        # more lets uvicorn answer every one of them and 503 only surplus tasks
        "limit_concurrency": limits.limit_concurrency + 1 if limits.limit_concurrency else None,
    }


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1), help="Server processes."
)
@click.option("--log-level", default=None, help="uvicorn's log level (default: info).")
@click.pass_obj
def serve(state: CliState, host: str, port: int, workers: int, log_level: str | None) -> None:
    """Serve the app (uvicorn + httptools) with the limits of the core settings."""
    try:
        import httptools  # noqa: F401  (the protocol riso bounds)
        import uvicorn

        from riso._compat import BoundedHttpToolsProtocol, RisoConfig, run_workers
    except ImportError:
        raise RisoError(_MISSING) from None
    spec, _, folder = find_app_spec(state.app_option, state.cwd)
    if workers > 1:
        # Each worker imports the app again; a settings error found there would
        # be a traceback per worker, restarted without end. Found here, it is
        # the one-line error before any worker starts.
        state.load_app()
    core = load_settings([("core", CoreSettings)])["core"]
    assert isinstance(core, CoreSettings)
    limits = core.server_limits
    if str(folder) not in sys.path:  # as uvicorn's --app-dir: import the app from there
        sys.path.insert(0, str(folder))
    config = RisoConfig(
        spec,
        limits=limits,
        host=host,
        port=port,
        workers=workers,
        http=BoundedHttpToolsProtocol,
        log_level=log_level,
        server_header=False,
        **uvicorn_options(limits, core.trusted_proxy_list),
    )
    server = uvicorn.Server(config)
    if workers > 1:
        run_workers(config, server)
    else:
        server.run()
    if not server.started and workers == 1:
        raise SystemExit(3)  # as uvicorn: the app failed to start
