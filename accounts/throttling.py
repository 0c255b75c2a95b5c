"""Limits on sign-in: a request rate per client address, and failed attempts per account.

Both are fixed-window counters in the database (:class:`accounts.models.AuthCounter`), so
every server process shares them and a restart does not reset them.

The client address is the socket's (``REMOTE_ADDR``): ``X-Forwarded-For`` is read only
when ``LUXX_TRUSTED_PROXIES`` (DRF's ``NUM_PROXIES``) says how many proxies of ours put
their entries at its end, so a client cannot name a new address per request. The
per-account limit holds whatever the address: after ``LUXX_LOGIN_FAILURE_LIMIT`` failed
attempts on one account within the window, every attempt on it is refused (the right
password too) until the window ends.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import AuthCounter, User


def counter_hit(key: str, *, window_seconds: float) -> tuple[int, float]:
    """Count one event under ``key``: the count in the current window (this one
    included) and the seconds until that window ends. Atomic: two processes counting at
    once both see their own increment (the row is locked, or created by exactly one)."""
    now = timezone.now()
    window = timedelta(seconds=window_seconds)
    with transaction.atomic():
        row, created = AuthCounter.objects.select_for_update().get_or_create(key=key, defaults={"count": 1, "window_ends_at": now + window})
        if created:
            # Forget finished windows now and then (on new keys only, so not per request).
            AuthCounter.objects.filter(window_ends_at__lt=now - timedelta(hours=1)).delete()
        elif row.window_ends_at <= now:
            row.count, row.window_ends_at = 1, now + window
            row.save(update_fields=["count", "window_ends_at"])
        else:
            row.count += 1
            row.save(update_fields=["count"])
    return row.count, max((row.window_ends_at - now).total_seconds(), 0.0)


def counter_undo(key: str) -> None:
    """Take back one event counted by :func:`counter_hit` (an attempt that succeeded)."""
    AuthCounter.objects.filter(key=key).update(count=Greatest(F("count") - 1, 0))


class AuthRateThrottle(SimpleRateThrottle):
    """Requests per client address on the sign-in, registration and refresh endpoints
    (the API's and the browser forms'), at ``LUXX_AUTH_THROTTLE_RATE``."""

    scope = "auth"
    _wait: float = 0.0

    def get_cache_key(self, request: Any, view: Any) -> str:
        # get_ident: REMOTE_ADDR, or X-Forwarded-For's entry NUM_PROXIES from the end.
        return f"addr:{self.get_ident(request)}"

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        num_requests, duration = self.parse_rate(self.rate)
        assert num_requests is not None and duration is not None
        count, self._wait = counter_hit(self.get_cache_key(request, view), window_seconds=duration)
        return count <= num_requests

    def wait(self) -> float | None:
        return self._wait


class AccountLocked(exceptions.Throttled):
    """Too many failed sign-ins on one account: refused whatever the address or password."""

    def __init__(self, wait: float):
        super().__init__(wait=wait)
        self.luxx_message = _("Too many failed sign-ins for this account. Try again in %(seconds)s seconds.") % {"seconds": int(wait) + 1}


def _account_key(user: User | None, identifier: str) -> str:
    # The account itself when it exists, so every spelling of it (username, email, case)
    # shares one count; an unknown name is limited as typed, so the answer does not tell
    # existing accounts from others.
    return f"account:{user.pk}" if user is not None else f"login:{identifier.strip().lower()[:200]}"


@contextlib.contextmanager
def login_attempt(*, user: User | None, identifier: str) -> Iterator[None]:
    """Wrap one password check of ``user`` (or of the unknown ``identifier``).

    The attempt is counted before the password is checked, so concurrent guesses cannot
    all slip under the limit; leaving the block normally (the password was right) takes
    it back, and an exception (wrong password, unknown user) leaves it counted.
    Raises :class:`AccountLocked` when the account has used up its failures."""
    key = _account_key(user, identifier)
    count, wait = counter_hit(key, window_seconds=settings.LUXX_LOGIN_FAILURE_WINDOW_MINUTES * 60)
    if count > settings.LUXX_LOGIN_FAILURE_LIMIT:
        raise AccountLocked(wait)
    yield
    counter_undo(key)


def address_throttle_wait(request: HttpRequest) -> float | None:
    """For views outside DRF: None when the address may go on, else seconds to wait."""
    throttle = AuthRateThrottle()
    if throttle.allow_request(request, None):
        return None
    return throttle.wait() or 1.0


def throttled_form_posts(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Apply the address limit to a sign-in form's POSTs (Django admin's login page)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            wait = address_throttle_wait(request)
            if wait is not None:
                return too_many_attempts_page(request, wait)
        return view(request, *args, **kwargs)

    return wrapped


def too_many_attempts_page(request: HttpRequest, wait: float) -> HttpResponse:
    seconds = int(wait) + 1
    response = render(request, "429.html", {"seconds": seconds}, status=429)
    response["Retry-After"] = str(seconds)
    return response
