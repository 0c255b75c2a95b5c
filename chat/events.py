"""What a chat turn hands its streams: the events of one reply, in batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StepEvent:
    """A ``process_step`` piece, and the reply's position after it (see chat/replies.py)."""

    piece: dict[str, Any]
    position: int = 0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    pass


@dataclass(frozen=True, slots=True)
class Retrying:
    """The model call failed before its first token and is being made again."""

    attempt: int
    max_attempts: int
    delay_seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class TurnFinished:
    status: str
    message_id: str
    usage: dict[str, Any]
    error: str = ""
    citations: tuple[dict[str, Any], ...] = ()
    position: int = 0

    @property
    def token_count(self) -> int:
        return int(self.usage.get("total_tokens", 0))


TurnEvent = StepEvent | Heartbeat | Retrying | TurnFinished
