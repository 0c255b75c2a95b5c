"""Deployment checks of the keys that sign tokens and encrypt secrets."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from luxx.bootstrap import is_insecure_key, legacy_secret_key


@checks.register(checks.Tags.security, deploy=True)
def signing_key_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A key derived from a constant (the install path, a placeholder) lets anyone who
    guesses it sign an administrator's access token and decrypt stored provider keys."""
    key = str(settings.SECRET_KEY)
    if is_insecure_key(key) or key == legacy_secret_key():
        return [
            checks.Error(
                "SECRET_KEY is derived from a constant, so anyone can forge access tokens with it.",
                hint="Unset SECRET_KEY to use the random key `manage.py migrate` keeps in the data directory, or set a long random one.",
                id="luxx.E001",
            )
        ]
    return []
