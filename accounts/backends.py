"""The authentication backend behind ``django.contrib.auth.authenticate`` (Django admin's
sign-in): Django's model backend, under the same per-account limit as every other
sign-in (``accounts.throttling.login_attempt``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts import services, throttling


class _WrongCredentials(Exception):
    pass


class LimitedModelBackend(ModelBackend):
    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any) -> Any:
        if username is None or password is None:
            return None
        user = services.user_find_for_login(username)
        try:
            with throttling.login_attempt(user=user, identifier=username):
                if user is None or not user.check_password(password) or not self.user_can_authenticate(user):
                    raise _WrongCredentials
        except throttling.AccountLocked:
            # Stops authenticate() at once: no other backend gets to check the password.
            raise PermissionDenied from None
        except _WrongCredentials:
            return None
        return user
