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


class EventStreamResponse(StreamingHttpResponse):
    """A streaming response that closes its stream within the request when it ends early.

    When the client goes away while a chunk is being sent, Django closes only its own
    wrapper around the stream and leaves the stream to the garbage collector, whose
    finalizer would close it later in a task of its own, outside the request. Closed here,
    the stream's ``finally`` (and a reply that goes on without its client) runs in the
    request that owns it."""

    def __init__(self, stream: AsyncIterator[bytes], **kwargs: Any) -> None:
        super().__init__(stream, **kwargs)
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part if isinstance(part, bytes) else self.make_bytes(part)
        finally:
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                await close()


def sse_response(stream: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = EventStreamResponse(stream, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
