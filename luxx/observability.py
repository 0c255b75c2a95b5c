"""Per request: a request id (the caller's ``X-Request-ID``, or a new one, sent back),
one log line (``luxx.request``: method, route, status, duration, user id) and the
``luxx_http_requests_total`` counter. Sync and async alike, so the streaming views never
hop threads for it. A streaming response is logged when its headers go out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware
from django.utils.functional import SimpleLazyObject, empty

from luxx.logs import request_id_from, request_id_var
from luxx.metrics import HTTP_REQUESTS

logger = logging.getLogger("luxx.request")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _user_id(request: HttpRequest) -> int | None:
    """The user id when authentication already ran; never makes it run (no query here,
    which async code could not make)."""
    user: Any = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = user._wrapped  # type: ignore[attr-defined]
        if user is empty:
            return None
    return user.pk if getattr(user, "is_authenticated", False) else None


def _begin(request: HttpRequest) -> tuple[float, Any]:
    request_id = request_id_from(request.headers.get("X-Request-ID"))
    request.luxx_request_id = request_id  # type: ignore[attr-defined]
    return time.perf_counter(), request_id_var.set(request_id)


def _end(request: HttpRequest, response: HttpResponse, started: float) -> HttpResponse:
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    response.headers.setdefault("X-Request-ID", request.luxx_request_id)  # type: ignore[attr-defined]
    method = request.method if request.method in _METHODS else "other"  # a client's made-up method is no new series
    HTTP_REQUESTS.labels(method=method, status=str(response.status_code)).inc()
    match = request.resolver_match
    route = ("/" + match.route) if match is not None and match.route else request.path
    logger.info(
        "%s %s %s",
        request.method,
        route,
        response.status_code,
        extra={
            "fields": {
                "event": "request",
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "user_id": _user_id(request),
                "streaming": bool(getattr(response, "streaming", False)),
            }
        },
    )
    return response


@sync_and_async_middleware
def RequestObservabilityMiddleware(get_response: Callable) -> Callable:
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            started, _token = _begin(request)
            response = await get_response(request)
            return _end(request, response, started)

    else:

        def middleware(request: HttpRequest) -> HttpResponse:  # type: ignore[misc]
            started, token = _begin(request)
            try:
                response = get_response(request)
                return _end(request, response, started)
            finally:
                request_id_var.reset(token)

    return middleware
