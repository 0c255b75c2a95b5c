"""Secrets at rest (provider API keys): Fernet under LUXX_ENCRYPTION_KEY.

``LUXX_ENCRYPTION_KEY`` may list several keys: the first encrypts, all of them decrypt,
and so do the legacy keys of installs from before secret keys were generated.
:func:`reencrypt_secret` moves a stored value to the first key.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet((*settings.LUXX_ENCRYPTION_KEYS, *settings.LUXX_LEGACY_ENCRYPTION_KEYS))


def encrypt_secret(plain: str) -> str:
    if not plain:
        return ""
    return _current().encrypt(plain.encode()).decode()


def decrypt_secret(token: str) -> str:
    """The plain secret; an empty string when there is none or no key opens it."""
    if not token:
        return ""
    return _decrypt(token, (*settings.LUXX_ENCRYPTION_KEYS, *settings.LUXX_LEGACY_ENCRYPTION_KEYS))


@lru_cache(maxsize=1024)
def _decrypt(token: str, keys: tuple[str, ...]) -> str:
    # Every chat turn reads its provider's key: remembered per ciphertext (an edited key
    # is a new ciphertext) and per key set, so nothing stale can be returned.
    try:
        return _fernet(keys).decrypt(token.encode()).decode()
    except InvalidToken:
        return ""


def reencrypt_secret(token: str) -> str | None:
    """``token`` encrypted under the first key, or None when no key opens it."""
    if not token:
        return token
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken:
        return None
