"""Background tasks of chat: conversation titles, and the sweep of replies whose process died."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from chat import background
from worker.durable import durable_task


@durable_task()
def generate_title(conversation_id: str) -> str | None:
    return background.conversation_title_generate(conversation_id=conversation_id)


def title_request(*, conversation_id: str) -> None:
    """Queue a title for a conversation whose title is still a default one (after any
    reply, whatever its outcome: a later reply retries what an earlier one could not)."""
    if background.conversation_title_is_default(conversation_id=conversation_id):
        generate_title.enqueue(conversation_id)


@durable_task(attempts=1)  # periodic: the next period is the retry
def sweep_interrupted_replies() -> int:
    """Mark replies whose process died ``interrupted`` (LUXX_STREAM_STALE_SECONDS without a
    save), and title their conversations. Answer how many conversations it touched."""
    conversation_ids = background.replies_interrupt_stale(silent_for=timedelta(seconds=settings.LUXX_STREAM_STALE_SECONDS))
    for conversation_id in conversation_ids:
        title_request(conversation_id=conversation_id)
    return len(conversation_ids)
