"""What of a conversation's history fits the model's window, and short titles."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from luxx.text import estimate_tokens

__all__ = ["estimate_tokens", "history_within_budget", "title_from_text"]


def history_within_budget(
    messages: list[Any], budget_tokens: int, expand: Callable[[Any], tuple[dict[str, Any] | None, int]] | None = None
) -> list[dict[str, Any]]:
    """The most recent messages (oldest first) whose estimated size fits the budget. The
    newest message is always kept, so a turn is never sent without its question.

    ``expand`` gives a message as the model takes it and its cost (None for nothing to
    send); the attachments of a turn use it (files.context.TurnFiles.expand)."""
    kept: list[dict[str, Any]] = []
    used = 0
    for message in reversed(messages):
        if expand is not None:
            entry, cost = expand(message)
            if entry is None:
                continue
        elif not message.content:
            continue
        else:
            entry, cost = {"role": message.role, "content": message.content}, estimate_tokens(message.content) + 4
        if kept and used + cost > budget_tokens:
            break
        kept.append(entry)
        used += cost
    kept.reverse()
    while kept and kept[0]["role"] == "assistant":
        kept.pop(0)
    return kept


_SENTENCE_END = re.compile(r"[。！？!?\n]|\.\s")


def title_from_text(text: str, *, limit: int = 40) -> str:
    """A short title in the message's own language: its first sentence, trimmed."""
    cleaned = re.sub(r"\[\[fake .*?\]\]", "", text, flags=re.DOTALL)
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    if not cleaned:
        return "New conversation"
    match = _SENTENCE_END.search(cleaned)
    first = cleaned[: match.start()] if match and match.start() > 0 else cleaned
    first = first.strip(" ,.;:，。；：")
    if len(first) > limit:
        cut = first[:limit]
        space = cut.rfind(" ")
        first = (cut[:space] if space > limit // 2 else cut).rstrip() + "…"
    return first or "New conversation"
