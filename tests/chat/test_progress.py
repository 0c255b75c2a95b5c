"""The shared reply writer's one transaction: progress of changed replies, heartbeats of
unchanged ones, and finals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from chat.models import Conversation, Message, MessageStatus
from chat.progress import ReplyFinal, replies_write
from tests.support.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation() -> Conversation:
    return Conversation.objects.create(user=make_user(), model="m")


def _reply(conversation: Conversation, *, status: str = MessageStatus.STREAMING, seconds_ago: float = 60) -> Message:
    message = Message.objects.create(user=conversation.user, conversation=conversation, role="assistant", status=status)
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds_ago))
    return Message.objects.get(pk=message.pk)


def _fresh(message: Message) -> bool:
    return timezone.now() - Message.objects.get(pk=message.pk).updated_at < timedelta(seconds=5)


def test_progress_stores_the_steps_and_text_and_is_the_replys_heartbeat(conversation: Conversation) -> None:
    reply = _reply(conversation)
    steps = [{"id": "step-0", "index": 0, "type": "text", "content": "Hi"}]

    replies_write(progress=[(reply.pk, steps, "Hi")], finals=[], alive=[])

    stored = Message.objects.get(pk=reply.pk)
    assert (stored.process_steps, stored.content, stored.status) == (steps, "Hi", MessageStatus.STREAMING)
    assert _fresh(reply)


def test_an_unchanged_open_reply_only_gets_its_heartbeat(conversation: Conversation) -> None:
    reply = _reply(conversation)

    replies_write(progress=[], finals=[], alive=[reply.pk])

    assert Message.objects.get(pk=reply.pk).content == ""
    assert _fresh(reply)


def test_progress_never_revives_a_reply_that_was_already_ended(conversation: Conversation) -> None:
    # Given a reply the sweep marked interrupted (its writer looked dead)
    swept = _reply(conversation, status=MessageStatus.INTERRUPTED)

    replies_write(progress=[(swept.pk, [], "late text")], finals=[], alive=[swept.pk])

    stored = Message.objects.get(pk=swept.pk)
    assert (stored.status, stored.content) == (MessageStatus.INTERRUPTED, "")
    assert not _fresh(swept)


def test_finals_of_many_replies_are_written_in_one_call_whatever_their_state(conversation: Conversation) -> None:
    replies = [_reply(conversation) for _ in range(3)] + [_reply(conversation, status=MessageStatus.INTERRUPTED)]
    usage: dict[str, Any] = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    finals = [
        ReplyFinal(message_id=r.pk, status=MessageStatus.COMPLETE, steps=[], text=f"reply {i}", usage=usage, citations=[{"n": i}])
        for i, r in enumerate(replies)
    ]

    replies_write(progress=[], finals=finals, alive=[])

    stored = {m.pk: m for m in Message.objects.filter(pk__in=[r.pk for r in replies])}
    for i, reply in enumerate(replies):
        message = stored[reply.pk]
        assert (message.status, message.content, message.usage, message.token_count, message.citations) == (
            MessageStatus.COMPLETE,
            f"reply {i}",
            usage,
            7,
            [{"n": i}],
        )


def test_a_final_without_usage_stores_none(conversation: Conversation) -> None:
    reply = _reply(conversation)

    replies_write(progress=[], finals=[ReplyFinal(reply.pk, MessageStatus.ERROR, [], "", None, "It failed.")], alive=[])

    stored = Message.objects.get(pk=reply.pk)
    assert (stored.status, stored.usage, stored.token_count, stored.error) == (MessageStatus.ERROR, None, 0, "It failed.")
