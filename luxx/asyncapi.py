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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.settings import api_settings

from luxx.api import LuxxRenderer, exception_handler


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
        return csrf_exempt(view)

    return attach
