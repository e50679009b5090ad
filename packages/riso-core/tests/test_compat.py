"""The uvicorn internals riso/_compat.py builds on still exist and behave as relied on.

When one of these fails, uvicorn changed: adapt ``BoundedHttpToolsProtocol``
(or ``run_workers``) before widening the ``riso-core[server]`` range.
"""

from __future__ import annotations

import inspect

import pytest

pytest.importorskip("httptools")
pytest.importorskip("uvicorn")

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import (
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import ServerState

from riso._compat import BoundedHttpToolsProtocol


def test_the_protocol_methods_riso_overrides_exist() -> None:
    for name in (
        "connection_made",
        "connection_lost",
        "data_received",
        "send_400_response",
        "on_message_begin",
        "on_header",
        "on_headers_complete",
        "on_body",
        "on_message_complete",
    ):
        assert callable(getattr(HttpToolsProtocol, name, None)), name
    params = list(inspect.signature(HttpToolsProtocol.__init__).parameters)
    assert params[:4] == ["self", "config", "server_state", "app_state"]
    assert list(inspect.signature(HttpToolsProtocol.on_header).parameters) == [
        "self",
        "name",
        "value",
    ]
    assert list(inspect.signature(HttpToolsProtocol.send_400_response).parameters) == [
        "self",
        "msg",
    ]


def test_parser_errors_are_answered_through_send_400_response() -> None:
    source = inspect.getsource(HttpToolsProtocol.data_received)
    assert "httptools.HttpParserError" in source
    assert "self.send_400_response(" in source


def test_the_attributes_riso_reads_are_set() -> None:
    init = inspect.getsource(HttpToolsProtocol.__init__)
    for attribute in ("self.loop", "self.transport", "self.connections", "self.flow", "self.cycle"):
        assert f"{attribute} =" in init or f"{attribute}:" in init, attribute
    assert "self.read_paused" in inspect.getsource(FlowControl.__init__)
    cycle = inspect.getsource(RequestResponseCycle.__init__)
    for attribute in ("response_started", "response_complete", "disconnected"):
        assert f"self.{attribute} =" in cycle, attribute
    assert "default_headers" in inspect.getsource(ServerState)


def test_the_bounded_protocol_builds_on_a_real_config() -> None:
    import asyncio

    import uvicorn

    from riso._compat import RisoConfig
    from riso._settings import CoreSettings

    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("never called")

    limits = CoreSettings().server_limits
    config = RisoConfig(app, limits=limits, http=BoundedHttpToolsProtocol)
    loop = asyncio.new_event_loop()
    try:
        protocol = BoundedHttpToolsProtocol(config, ServerState(), {}, _loop=loop)
    finally:
        loop.close()
    assert protocol.limits == limits
    assert isinstance(config, uvicorn.Config)


def test_the_supervisor_takes_config_and_sockets() -> None:
    from uvicorn.supervisors import Multiprocess

    params = inspect.signature(Multiprocess).parameters
    assert {"config", "sockets"} <= set(params)
