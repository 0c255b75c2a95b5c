"""The Content-Security-Policy of every HTML page: scripts, styles and everything else
only from this origin, no inline script or style, no plugins, no framing.

The UI renders model output and file names; DOMPurify sanitizes them, and this policy is
the backstop behind it: even markup that slipped through could not run a script, load
one from elsewhere, or send data anywhere but this server. Templates therefore keep their
scripts and styles in static files (JSON data blocks, ``type="application/json"``, are
not scripts and are fine)."""

from __future__ import annotations

from collections.abc import Callable

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def _with_policy(response: HttpResponse) -> HttpResponse:
    if response.get("Content-Type", "").startswith("text/html"):
        response.headers.setdefault("Content-Security-Policy", POLICY)
    return response


@sync_and_async_middleware
def ContentSecurityPolicyMiddleware(get_response: Callable) -> Callable:
    """Sync and async alike, so async views (the streaming ones) never hop threads for it."""
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            return _with_policy(await get_response(request))

    else:

        def middleware(request: HttpRequest) -> HttpResponse:  # type: ignore[misc]
            return _with_policy(get_response(request))

    return middleware
