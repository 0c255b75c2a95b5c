"""Server-sent events: framing, keep-alive, and the streaming response."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from django.http import StreamingHttpResponse

KEEPALIVE = b": keep-alive\n\n"


def sse_frame(event: str | None, data: Any, *, event_id: str | None = None) -> bytes:
    """One SSE frame. JSON is UTF-8 without ASCII escaping (orjson's default)."""
    head = b""
    if event_id is not None:
        head += b"id: " + event_id.encode() + b"\n"
    if event is not None:
        head += b"event: " + event.encode() + b"\n"
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def sse_response(stream: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
