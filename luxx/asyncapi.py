"""Native async API views: the streaming endpoints.

A streaming reply must not hold a thread or a database connection for its whole life,
so its endpoint is an async Django view. Everything that can fail before the stream
starts (authentication, parsing, validation, the turn's set-up) runs with DRF's own
machinery in one call to the shared database pool (:func:`luxx.db.run_db`): one thread
hop and one pooled connection per request, with the same authentication, CSRF and error
envelopes as every other API view. Its failures are answered here as normal responses;
only then does the stream start.

The OpenAPI schema still documents these endpoints through a DRF view class:
:func:`documented_by` attaches it to the async function, as ``as_view()`` would.

Django runs a request's thread-sensitive calls (its ``request_started`` receivers,
``response.close()``, a session to save) on a thread it starts for that request, and
starts another to join it at the end: about 0.4 ms of CPU per request, a tenth of a
streaming turn's set-up. These views do their own work through ``run_db`` and leave
Django only those short calls, so :func:`async_views_on_shared_thread` gives their
requests one long-lived thread for them instead.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, get_resolver
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.settings import api_settings

from luxx.api import LuxxRenderer, exception_handler
from luxx.bodylimit import ASGIApp, Receive, Scope, Send


def drf_request(request: HttpRequest) -> Request:
    """``request`` as a DRF view sees it, authenticated as the API's settings say.
    Raises 401 (the authenticators' own error, or "not provided") for an anonymous caller."""
    parsers: Any = api_settings.DEFAULT_PARSER_CLASSES
    authenticators: Any = api_settings.DEFAULT_AUTHENTICATION_CLASSES
    wrapped = Request(request, parsers=[parser() for parser in parsers], authenticators=[auth() for auth in authenticators])
    if not wrapped.user or not wrapped.user.is_authenticated:
        raise exceptions.NotAuthenticated()
    return wrapped


def error_response(request: HttpRequest, exc: Exception) -> HttpResponse:
    """``exc`` answered in the request's dialect, exactly as a DRF view would answer it."""
    response = exception_handler(exc, {"request": request})
    response.accepted_renderer = LuxxRenderer()
    response.accepted_media_type = "application/json"
    response.renderer_context = {"request": request, "response": response}  # type: ignore[attr-defined]
    response.render()
    return response


def documented_by(view_class: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach ``view_class`` (an APIView with ``extend_schema`` on its methods) to an async
    view, so drf-spectacular documents the async view with it."""

    def attach(view: Callable[..., Any]) -> Callable[..., Any]:
        view.cls = view_class  # type: ignore[attr-defined]
        view.view_class = view_class  # type: ignore[attr-defined]
        view.initkwargs = {}  # type: ignore[attr-defined]
        exempt = csrf_exempt(view)
        exempt.luxx_async_api = True  # type: ignore[attr-defined]
        return exempt

    return attach


_shared_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="luxx-async-views")


@lru_cache(maxsize=4096)
def serves_async_api_view(path: str) -> bool:
    """Whether ``path`` is routed to one of these async views (see :func:`documented_by`);
    remembered, since the routes do not change while the process runs."""
    try:
        match = get_resolver().resolve(path)
    except Resolver404:
        return False
    return getattr(match.func, "luxx_async_api", False)


def async_views_on_shared_thread(app: Any) -> ASGIApp:
    """``app`` (Django's ASGI handler), with the thread-sensitive calls of requests to these
    views on one shared thread. Django's per-request context, entered inside this one,
    then leaves it in place."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and serves_async_api_view(scope["path"]):
            async with ThreadSensitiveContext(executor=_shared_thread):
                await app(scope, receive, send)
        else:
            await app(scope, receive, send)

    return application
