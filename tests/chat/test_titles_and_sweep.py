"""Conversation titles made by a task after any reply, and the periodic sweep that marks
replies whose process died as interrupted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from chat import background
from chat.models import Conversation, Message
from chat.tasks import sweep_interrupted_replies
from fakellm import Scenario
from rooms.models import ChatRoom
from tests.chat.test_stream import create_conversation, send
from tests.support.tasks import run_queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def title_of(conversation_id: str) -> str:
    return Conversation.objects.get(pk=conversation_id).title


def title_tasks() -> int:
    return DBTaskResult.objects.filter(task_path="chat.tasks.generate_title").count()


def test_a_complete_first_reply_titles_the_conversation_through_a_task(
    live_url: str, token: str, openai_provider: Any, fake_llm: Any
) -> None:
    # Given a new conversation
    fake_llm.script(Scenario(text="Use gunicorn behind nginx."))
    conversation_id = create_conversation(live_url, token)

    # When its first reply completes, and a worker runs what was queued
    _, events = send(live_url, token, conversation_id, "How do I deploy Django? I tried gunicorn.")
    before = title_of(conversation_id)
    ran = run_queued_tasks()

    # Then the title comes from the first message, by the task
    assert (events[-1].event, before, ran) == ("done", "New conversation", 1)
    assert title_of(conversation_id) == "How do I deploy Django"


def test_a_first_reply_that_failed_still_titles_the_conversation(live_url: str, token: str, openai_provider: Any, fake_llm: Any) -> None:
    # Given a provider that fails (the first attempt and both retries before the first token)
    fake_llm.script(*[Scenario(fault="500")] * 3)
    conversation_id = create_conversation(live_url, token)

    # When the first reply ends in an error
    _, events = send(live_url, token, conversation_id, "帮我写一首关于秋天的诗。要求押韵")
    run_queued_tasks()

    # Then the conversation is titled all the same, in its language
    assert events[-1].event == "error"
    assert Message.objects.get(conversation_id=conversation_id, role="assistant").status == "error"
    assert title_of(conversation_id) == "帮我写一首关于秋天的诗"


def test_a_later_reply_titles_a_conversation_whose_first_reply_was_interrupted(
    live_url: str, token: str, user: Any, openai_provider: Any, fake_llm: Any
) -> None:
    # Given a conversation whose first reply was cut off (its process died): no title yet
    conversation_id = create_conversation(live_url, token)
    conversation = Conversation.objects.get(pk=conversation_id)
    Message.objects.create(user=user, conversation=conversation, role="user", content="Plan a trip to Kyoto. Two days.")
    Message.objects.create(user=user, conversation=conversation, role="assistant", content="Day one", status="interrupted")
    fake_llm.script(Scenario(text="Sure."))

    # When the user sends another message, whose reply completes
    send(live_url, token, conversation_id, "Please go on")
    run_queued_tasks()

    # Then the title comes from the first message of the conversation
    assert title_of(conversation_id) == "Plan a trip to Kyoto"


def test_a_title_the_user_set_or_one_already_made_is_never_replaced(
    live_url: str, token: str, user: Any, openai_provider: Any, fake_llm: Any
) -> None:
    fake_llm.script(Scenario(text="One."), Scenario(text="Two."))
    named = create_conversation(live_url, token, title="My own title")
    titled = create_conversation(live_url, token)
    Conversation.objects.filter(pk=titled).update(title="Made earlier")

    send(live_url, token, named, "Something else entirely")
    send(live_url, token, titled, "Something else entirely")
    queued = title_tasks()
    direct = [background.conversation_title_generate(conversation_id=conversation_id) for conversation_id in (named, titled)]

    assert (queued, direct) == (0, [None, None])
    assert (title_of(named), title_of(titled)) == ("My own title", "Made earlier")


def _reply(user: Any, conversation: Conversation | None, *, content: str, seconds_ago: float, room: ChatRoom | None = None) -> Message:
    message = Message.objects.create(
        user=user, conversation=conversation, room=room, role="assistant", content=content, status="streaming", process_steps=[]
    )
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds_ago))
    return message


@override_settings(LUXX_STREAM_STALE_SECONDS=30)
def test_the_sweep_interrupts_replies_whose_writer_went_silent_and_keeps_their_text(user: Any, openai_provider: Any) -> None:
    # Given replies still streaming: one unsaved for a minute, one saved a second ago, and a
    # room's turn unsaved for a minute (the room's run deals with those)
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    Message.objects.create(user=user, conversation=conversation, role="user", content="Explain TCP slow start.")
    dead = _reply(user, conversation, content="Slow start doubles", seconds_ago=60)
    live = _reply(user, Conversation.objects.create(user=user, model="m"), content="Still going", seconds_ago=1)
    room = ChatRoom.objects.create(user=user, title="r", task="t")
    turn = _reply(user, None, content="A turn", seconds_ago=60, room=room)

    # When the periodic sweep runs, then the tasks it queued
    sweep = sweep_interrupted_replies.enqueue()
    run_queued_tasks()
    sweep.refresh()

    # Then only the silent chat reply is interrupted, with its text, and its conversation titled
    statuses = {m.pk: (m.status, m.content, m.error) for m in Message.objects.filter(role="assistant")}
    assert sweep.return_value == 1
    assert statuses[dead.pk] == ("interrupted", "Slow start doubles", "The server process writing this reply stopped before it finished.")
    assert statuses[live.pk] == ("streaming", "Still going", "")
    assert statuses[turn.pk] == ("streaming", "A turn", "")
    assert title_of(conversation.pk) == "Explain TCP slow start"


def test_the_sweep_is_one_of_the_periodic_tasks_of_every_worker() -> None:
    from django.conf import settings

    assert settings.LUXX_PERIODIC_TASKS["chat.tasks.sweep_interrupted_replies"] == 10.0
