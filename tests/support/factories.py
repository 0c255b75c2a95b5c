"""Test data builders. Tests create users and tokens through these, never by hand."""

from __future__ import annotations

import itertools
from typing import Any

from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import PermissionLevel, User

_counter = itertools.count(1)
DEFAULT_PASSWORD = "Secret123pass"


def make_user(
    *, username: str | None = None, level: int = PermissionLevel.READ_ONLY, password: str = DEFAULT_PASSWORD, **extra: Any
) -> User:
    n = next(_counter)
    username = username or f"user{n}"
    user = User(username=username, email=extra.pop("email", f"{username}@example.com"), permission_level=level, **extra)
    user.set_password(password)
    user.save()
    return user


def make_admin(**extra: Any) -> User:
    return make_user(level=PermissionLevel.ADMIN, **extra)


def access_token_for(user: User) -> str:
    return str(RefreshToken.for_user(user).access_token)


def api_client_for(user: User | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    return client
