"""Child spans around the ASGI ``receive`` and ``send`` of a request (RISO_OBS_TRACE_IO_SPANS)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.trace import SpanKind

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer
    from starlette.types import Message, Receive, Send


def traced_receive(receive: Receive, tracer: Tracer, name: str) -> Receive:
    """``receive`` inside a child span of the server span (RISO_OBS_TRACE_IO_SPANS)."""

    async def traced() -> Message:
        with tracer.start_as_current_span(name, kind=SpanKind.INTERNAL) as span:
            message = await receive()
            span.set_attribute("asgi.event.type", message["type"])
            return message

    return traced


def traced_send(send: Send, tracer: Tracer, name: str) -> Send:
    """``send`` inside a child span of the server span (RISO_OBS_TRACE_IO_SPANS)."""

    async def traced(message: Message) -> None:
        with tracer.start_as_current_span(name, kind=SpanKind.INTERNAL) as span:
            span.set_attribute("asgi.event.type", message["type"])
            if message["type"] == "http.response.start":
                span.set_attribute("http.response.status_code", message["status"])
            await send(message)

    return traced
