"""Django's own middleware, run on the event loop when a request is served async.

``MiddlewareMixin`` moves every ``process_request`` and ``process_response`` to a thread
when the middleware stack runs async: two thread hops per middleware per request, which
at hundreds of concurrent requests cost more than the requests' own work. The hooks of
the middleware listed here do no I/O — except where the predicate beside each says so (a
session or a message store that must be saved), and then the hook still goes to a thread.
:func:`install` gives those classes an ``__acall__`` that calls the hooks directly; the
ASGI entry point installs it. ``MIDDLEWARE`` keeps naming Django's classes, so Django's
own checks (``check --deploy``) see them as they are.

Reviewed against Django 5.2 (pinned): a Django upgrade re-reads these hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware import clickjacking, common, csrf, locale, security

NeedsThread = Callable[[HttpRequest], bool]


def _never(request: HttpRequest) -> bool:
    return False


def _session_may_be_saved(request: HttpRequest) -> bool:
    session = getattr(request, "session", None)
    return session is not None and (session.accessed or settings.SESSION_SAVE_EVERY_REQUEST)


def _messages_may_be_stored(request: HttpRequest) -> bool:
    storage = getattr(request, "_messages", None)
    return storage is not None and (storage.used or storage.added_new)


_LOOP_SAFE: dict[type, NeedsThread] = {
    security.SecurityMiddleware: _never,
    sessions.SessionMiddleware: _session_may_be_saved,
    locale.LocaleMiddleware: _never,
    common.CommonMiddleware: _never,
    csrf.CsrfViewMiddleware: _never,
    auth.AuthenticationMiddleware: _never,
    messages.MessageMiddleware: _messages_may_be_stored,
    clickjacking.XFrameOptionsMiddleware: _never,
}


def _acall(needs_thread: NeedsThread) -> Callable[[Any, HttpRequest], Any]:
    async def __acall__(self: Any, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if needs_thread(request):
                response = await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
            else:
                response = self.process_response(request, response)
        return response

    return __acall__


def install() -> None:
    for middleware, needs_thread in _LOOP_SAFE.items():
        middleware.__acall__ = _acall(needs_thread)  # type: ignore[attr-defined]
