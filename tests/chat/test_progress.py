"""The shared reply writer's one transaction: progress of changed replies, heartbeats of
unchanged ones, and finals."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from chat.models import Conversation, Message, MessageStatus
from chat.progress import ReplyFinal, replies_write, reply_writer
from luxx.db import run_db, run_db_writer
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


@pytest.mark.django_db(transaction=True)
def test_the_writer_commits_while_every_thread_of_the_shared_pool_is_busy(settings: Any) -> None:
    # Given a streaming reply, and every thread of the shared database pool taken (by turn
    # set-ups, say, when hundreds of streams start at once), with more work queued
    conversation = Conversation.objects.create(user=make_user(), model="m")
    reply = Message.objects.create(user=conversation.user, conversation=conversation, role="assistant", status=MessageStatus.STREAMING)
    steps = [{"id": "step-0", "index": 0, "type": "text", "content": "All of it"}]
    release = threading.Event()

    async def scenario() -> tuple[bool, Message]:
        busy = [asyncio.ensure_future(run_db(release.wait, 30)) for _ in range(settings.LUXX_DB_THREADS + 2)]
        try:
            await asyncio.sleep(0.1)
            writer = reply_writer()
            writer.open(reply.pk, lambda: (steps, "All of it"))
            # When the reply ends, its final state is committed without waiting for them
            final = ReplyFinal(message_id=reply.pk, status=MessageStatus.COMPLETE, steps=steps, text="All of it", usage=None)
            await asyncio.wait_for(writer.finish(final), timeout=20)
            stored = await run_db_writer(Message.objects.get, pk=reply.pk)
            return any(task.done() for task in busy), stored
        finally:
            release.set()
            await asyncio.gather(*busy)

    pool_freed_first, stored = asyncio.run(scenario())

    assert not pool_freed_first
    assert (stored.status, stored.content, stored.process_steps) == (MessageStatus.COMPLETE, "All of it", steps)
