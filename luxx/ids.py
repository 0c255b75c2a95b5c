"""Public ids: a prefix and 16 random lowercase alphanumerics (conv_…, msg_…, room_…)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits
_LENGTH = 16
_CHOICES = len(_ALPHABET) ** _LENGTH


def new_id(prefix: str) -> str:
    """``prefix`` and 16 characters drawn uniformly from the alphabet: the digits of one
    random number below 36**16 (one call to the system's random source instead of one
    or more per character)."""
    number = secrets.randbelow(_CHOICES)
    characters = []
    for _ in range(_LENGTH):
        number, digit = divmod(number, len(_ALPHABET))
        characters.append(_ALPHABET[digit])
    return prefix + "".join(characters)


def new_conversation_id() -> str:
    return new_id("conv_")


def new_message_id() -> str:
    return new_id("msg_")


def new_room_id() -> str:
    return new_id("room_")
