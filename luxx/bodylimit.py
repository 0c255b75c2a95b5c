"""Request bodies refused before they are read, whatever the server.

Every route has a body limit (:func:`body_limit`): document uploads
``LUXX_MAX_UPLOAD_MB`` (plus room for the multipart framing), sign-in and registration
16 KB, everything else ``LUXX_MAX_REQUEST_KB`` (2 MB). A body declared larger is answered
413 at once, without reading it; a body without a declared length (chunked) is counted as
it arrives and answered 413 the moment it passes the limit.

Two places enforce it, because servers hand bodies over differently:

- :class:`BodyLimitMiddleware`, in front of the whole ASGI application. Servers that
  pass the body on as it arrives (uvicorn, hypercorn) call the application as soon as
  the headers are in, so the middleware answers before the body is read.
- daphne (Twisted) reads the whole body, into temporary files past 100 KB, before it
  calls the application at all; no middleware could answer earlier. So when Luxx runs
  under daphne, :func:`install_in_daphne` gives daphne a request class that applies the
  same limits as the headers arrive and as the body streams in.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KB = 1024
MB = 1024 * 1024
AUTH_LIMIT_BYTES = 16 * KB
# Room for the multipart framing around an upload (boundaries, part headers, agent_id).
MULTIPART_OVERHEAD = 64 * KB
UPLOAD_PATHS = frozenset({"/api/knowledge/documents", "/api/v1/knowledge/documents/upload", "/api/files"})
# Conversation imports take files as large as uploads (a ChatGPT export's conversations.json).
IMPORT_PATHS = frozenset({"/api/conversations/import"})
AUTH_PATHS = frozenset(
    {
        "/api/auth/login",
        "/api/auth/register",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/v1/users/login",
        "/api/v1/users/register",
        "/api/v1/users/refresh",
        "/login",
        "/register",
        "/logout",
        "/admin/login",
        "/admin/logout",
        "/i18n/setlang",
    }
)
# How long daphne keeps reading (and dropping) a refused body after the 413, so that
# the client reads the answer instead of a connection reset.
LINGER_SECONDS = 2.0


def body_limit(path: str) -> int:
    """The most bytes a request body to ``path`` may have."""
    route = unquote(path).rstrip("/")
    if route in UPLOAD_PATHS or route in IMPORT_PATHS:
        # Chat attachments may be images, whose limit (LUXX_MAX_IMAGE_MB) can be the larger.
        largest = max(int(settings.LUXX_MAX_UPLOAD_MB), int(settings.LUXX_MAX_IMAGE_MB) if route == "/api/files" else 0)
        return largest * MB + MULTIPART_OVERHEAD
    if route in AUTH_PATHS:
        return AUTH_LIMIT_BYTES
    return int(settings.LUXX_MAX_REQUEST_KB) * KB


def too_large_response(path: str, limit: int) -> tuple[str, bytes]:
    """The 413's content type and body: the API's envelope under /api/, else plain text."""
    size = f"{limit // MB} MB" if limit >= MB else f"{limit // KB} KB"
    message = f"The request body is too large: {path} accepts at most {size}."
    if path.startswith("/api/v1/"):
        return "application/json", json.dumps({"code": 41300, "message": message, "data": None}).encode()
    if path.startswith("/api/"):
        return "application/json", json.dumps({"success": False, "message": message}).encode()
    return "text/plain; charset=utf-8", message.encode()


class BodyLimitMiddleware:
    """ASGI middleware: 413 from the declared Content-Length before the application runs,
    and for bodies of unknown length, 413 once the bytes received pass the limit (the
    application is then told the client went away, and nothing it sends goes out)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = body_limit(path)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, path, limit)
            return
        if declared is not None:
            # The server delivers at most the declared length: nothing to count.
            await self.app(scope, receive, send)
            return
        state = {"received": 0, "refused": False, "started": False}

        async def limited_receive() -> Message:
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["refused"] = True
                    if not state["started"]:
                        state["started"] = True
                        await _send_413(send, path, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if state["refused"]:
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


async def _send_413(send: Send, path: str, limit: int) -> None:
    content_type, body = too_large_response(path, limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --- daphne -------------------------------------------------------------------------------


def install_in_daphne() -> bool:
    """When this process is a daphne server, make its HTTP requests apply the limits as
    the body arrives (see the module's docstring). False when daphne is not serving."""
    module = sys.modules.get("daphne.http_protocol")
    if module is None or "daphne.server" not in sys.modules:
        return False
    base = getattr(module, "WebRequest")  # noqa: B009 (typed loosely on purpose)
    if getattr(base, "luxx_body_limit", False):
        return True
    setattr(module, "WebRequest", _limited_request_class(base))  # noqa: B010
    return True


def _limited_request_class(base: type) -> type:
    class LimitedWebRequest(base):  # type: ignore[valid-type,misc]
        """daphne's request, refusing a body over its route's limit as it arrives: at the
        headers when a Content-Length is declared, else as the bytes come in. Nothing of
        a refused body is stored, and daphne never hands the request to the application."""

        luxx_body_limit = True
        _luxx_refused = False
        _luxx_received = 0
        _luxx_limit = 0
        _luxx_path = ""

        def gotLength(self, length: int | None) -> None:
            # Twisted calls this once the headers are in; the request line is still only
            # on the channel (the request learns its path when the body is complete).
            raw_path = getattr(self.channel, "_path", b"") or b""
            self._luxx_path = urlsplit(raw_path.decode("latin-1")).path
            self._luxx_limit = body_limit(self._luxx_path)
            if length is not None and length > self._luxx_limit:
                self._luxx_refuse()
                return
            super().gotLength(length)

        def handleContentChunk(self, data: bytes) -> None:
            if self._luxx_refused:
                return
            self._luxx_received += len(data)
            if self._luxx_received > self._luxx_limit:
                self._luxx_refuse()
                return
            super().handleContentChunk(data)

        def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
            if self._luxx_refused:
                return  # answered already; the connection closes after the linger
            super().requestReceived(command, path, version)

        def _luxx_refuse(self) -> None:
            import io

            from twisted.internet import reactor  # daphne's, installed by the time a request comes

            self._luxx_refused = True
            self.content = io.BytesIO()
            # No "100 Continue" after this answer: the client must not send the body.
            self.requestHeaders.removeHeader(b"expect")
            content_type, body = too_large_response(self._luxx_path, self._luxx_limit)
            head = (
                "HTTP/1.1 413 Content Too Large\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            transport = self.channel.transport
            transport.write(head.encode("latin-1") + body)
            # Half-close: the answer goes out, what the client still sends is read and
            # dropped for a moment (closing at once would reset the connection and the
            # client could lose the answer), then the connection is dropped.
            if hasattr(transport, "loseWriteConnection"):
                transport.loseWriteConnection()
            reactor.callLater(LINGER_SECONDS, transport.abortConnection)  # type: ignore[attr-defined,arg-type]
            logger.info("Refused a request body over %s bytes for %s", self._luxx_limit, self._luxx_path)

    return LimitedWebRequest
