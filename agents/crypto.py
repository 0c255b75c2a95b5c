"""Provider API keys at rest: Fernet with LUXX_ENCRYPTION_KEY (derived from SECRET_KEY when unset)."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    return Fernet(key.encode())


def encrypt_secret(plain: str) -> str:
    if not plain:
        return ""
    return _fernet(settings.LUXX_ENCRYPTION_KEY).encrypt(plain.encode()).decode()


def decrypt_secret(token: str) -> str:
    """The plain secret; an empty string when there is none or the key changed."""
    if not token:
        return ""
    try:
        return _fernet(settings.LUXX_ENCRYPTION_KEY).decrypt(token.encode()).decode()
    except InvalidToken:
        return ""
