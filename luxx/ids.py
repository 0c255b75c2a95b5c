"""Public ids: a prefix and 16 random lowercase alphanumerics (conv_…, msg_…, room_…)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(16))


def new_conversation_id() -> str:
    return new_id("conv_")


def new_message_id() -> str:
    return new_id("msg_")


def new_room_id() -> str:
    return new_id("room_")
