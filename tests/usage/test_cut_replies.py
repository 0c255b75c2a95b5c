"""A chat reply whose process died: the sweep that marks it interrupted records what it
produced and settles what its turn reserved, so the user's counters and streams are not
left holding it."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections, transaction
from django.utils import timezone

from agents.runtime import CallUsage
from chat import background, services
from chat.models import Conversation, Message
from chat.progress import ReplyFinal, replies_write
from luxx.text import estimate_tokens
from usage.limits import LimitExceeded, turn_admit
from usage.models import ModelPrice, UsageAccount, UsageKind, UsageRecord
from usage.services import LedgerEntry, reservation_data

pytestmark = pytest.mark.django_db

TEXT = "Slow start doubles the congestion window every round trip until a loss"


def _dies(user: Any, provider: Any, *, content: str = "", usage: dict[str, Any] | None = None) -> Message:
    """A turn set up as a request sets one up, whose process then died after saving ``content``."""
    conversation = Conversation.objects.create(user=user, provider=provider, model="fake-model")
    prepared = services.turn_prepare(user=user, conversation_id=conversation.pk, content="Explain TCP slow start.")
    steps = [{"id": "s1", "type": "text", "content": content}] if content else []
    Message.objects.filter(pk=prepared.assistant_message_id).update(
        content=content, process_steps=steps, usage=usage, updated_at=timezone.now() - timedelta(minutes=5)
    )
    return Message.objects.get(pk=prepared.assistant_message_id)


def _sweep() -> list[str]:
    return background.replies_interrupt_stale(silent_for=timedelta(seconds=30))


def _account(user: Any) -> tuple[int, int, int, int, int]:
    a = UsageAccount.objects.get(user=user)
    return a.day_tokens, a.month_tokens, a.day_cost_micros, a.month_cost_micros, a.active_streams


def test_a_dead_reply_records_an_estimate_of_what_it_produced(user: Any, openai_provider: Any) -> None:
    # given a priced model and a reply that streamed some text before its process died
    ModelPrice.objects.create(provider=openai_provider, model="fake-model", input_per_million=Decimal(2), output_per_million=Decimal(10))
    reply = _dies(user, openai_provider, content=TEXT)
    reserved = reply.usage_reserved
    assert reserved is not None
    assert _account(user)[0] == reserved["tokens"] > 1000 and _account(user)[4] == 1  # the turn's max output is held
    # when the sweep finds it
    assert _sweep() == [reply.conversation_id]
    # then one estimated row: the prompt as estimated when it was sent, the text it produced
    row = UsageRecord.objects.get()
    completion = estimate_tokens(TEXT)
    assert (row.kind, row.message_id, row.conversation_id, row.provider_id, row.model) == (
        "chat",
        reply.pk,
        reply.conversation_id,
        openai_provider.pk,
        "fake-model",
    )
    assert (row.prompt_tokens, row.completion_tokens, row.estimated) == (reserved["prompt_tokens"], completion, True)
    assert row.cost_micros == 2 * row.prompt_tokens + 10 * completion
    # and the counters hold that, not the reservation; the stream is given back
    assert _account(user) == (row.total_tokens, row.total_tokens, row.cost_micros, row.cost_micros, 0)
    reply.refresh_from_db()
    assert (reply.status, reply.content, reply.token_count) == ("interrupted", TEXT, row.total_tokens)
    assert reply.usage == {
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": row.total_tokens,
        "estimated": True,
    }


def test_a_dead_reply_with_stored_token_counts_records_them(user: Any, openai_provider: Any) -> None:
    reply = _dies(user, openai_provider, content=TEXT, usage={"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15})
    _sweep()
    row = UsageRecord.objects.get()
    assert (row.prompt_tokens, row.completion_tokens, row.estimated, row.message_id) == (12, 3, False, reply.pk)
    assert _account(user) == (15, 15, 0, 0, 0)
    reply.refresh_from_db()
    assert reply.usage == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}  # kept as stored


def test_a_dead_reply_that_produced_nothing_records_nothing_and_frees_what_it_held(user: Any, openai_provider: Any) -> None:
    # given a daily limit the dead reply's reservation fills: the user cannot start another turn
    UsageAccount.objects.create(user=user, tokens_per_day=1)
    reply = _dies(user, openai_provider)
    conversation_id = str(reply.conversation_id)
    with pytest.raises(LimitExceeded):
        services.turn_prepare(user=user, conversation_id=conversation_id, content="again")
    # when the sweep finds the reply
    _sweep()
    # then nothing is recorded, the reservation is given back, and the user may chat again
    assert not UsageRecord.objects.exists()
    assert _account(user) == (0, 0, 0, 0, 0)
    services.turn_prepare(user=user, conversation_id=conversation_id, content="again")
    assert _account(user)[4] == 1


def test_a_dead_reply_without_a_kept_reservation_only_gives_back_its_stream(user: Any, openai_provider: Any) -> None:
    # given a reply started before replies kept their reservation
    reply = _dies(user, openai_provider, content=TEXT)
    Message.objects.filter(pk=reply.pk).update(usage_reserved=None)
    held = _account(user)
    # when the sweep finds it, then its stream is given back and nothing else is known
    _sweep()
    assert _account(user) == (*held[:4], 0)
    assert not UsageRecord.objects.exists()


def test_a_reply_that_is_still_saving_is_left_alone(user: Any, openai_provider: Any) -> None:
    reply = _dies(user, openai_provider, content=TEXT)
    Message.objects.filter(pk=reply.pk).update(updated_at=timezone.now())
    held = _account(user)
    assert _sweep() == []
    assert _account(user) == held and not UsageRecord.objects.exists()
    assert Message.objects.get(pk=reply.pk).status == "streaming"


def test_a_reply_taken_for_dead_that_then_finishes_is_recorded_and_settled_once(user: Any, openai_provider: Any) -> None:
    # given a reply whose writer was silent long enough for the sweep to take it for dead
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    prepared = services.turn_prepare(user=user, conversation_id=conversation.pk, content="Explain TCP slow start.")
    steps = [{"id": "s1", "type": "text", "content": TEXT}]
    Message.objects.filter(pk=prepared.assistant_message_id).update(
        content=TEXT, process_steps=steps, updated_at=timezone.now() - timedelta(minutes=5)
    )
    _sweep()
    settled = _account(user)
    assert UsageRecord.objects.count() == 1
    # when its process was alive after all and writes the reply's end
    final = _final_of(prepared, user, openai_provider, conversation)
    replies_write(progress=[], finals=[final], alive=[])
    # then the reply shows its real end, but its usage stays recorded and settled once
    reply = Message.objects.get(pk=prepared.assistant_message_id)
    assert (reply.status, reply.content) == ("complete", TEXT + " occurs.")
    assert UsageRecord.objects.count() == 1
    assert _account(user) == settled


@pytest.mark.django_db(transaction=True)
def test_a_final_written_while_the_sweep_settles_the_same_reply_waits_for_it_and_settles_nothing(user: Any, openai_provider: Any) -> None:
    # given a silent reply that the sweep is settling, in a transaction not yet committed
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    prepared = services.turn_prepare(user=user, conversation_id=conversation.pk, content="Explain TCP slow start.")
    Message.objects.filter(pk=prepared.assistant_message_id).update(
        content=TEXT, process_steps=[{"id": "s1", "type": "text", "content": TEXT}], updated_at=timezone.now() - timedelta(minutes=5)
    )
    swept, release = threading.Event(), threading.Event()

    def sweep() -> None:
        try:
            with transaction.atomic():
                _sweep()
                swept.set()
                release.wait(10)
        finally:
            connections.close_all()

    def write_final() -> None:
        try:
            replies_write(progress=[], finals=[_final_of(prepared, user, openai_provider, conversation)], alive=[])
        finally:
            connections.close_all()

    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    assert swept.wait(10)
    # when the reply's writer writes its end meanwhile (it waits for the sweep's locks)
    writer = threading.Thread(target=write_final)
    writer.start()
    writer.join(0.5)
    release.set()
    sweeper.join(10)
    writer.join(10)
    # then the usage is recorded and settled once, by the sweep, and the reply shows its end
    assert UsageRecord.objects.count() == 1
    assert _account(user)[4] == 0
    record = UsageRecord.objects.get()
    assert _account(user)[0] == record.total_tokens
    assert Message.objects.get(pk=prepared.assistant_message_id).status == "complete"


def _final_of(prepared: Any, user: Any, provider: Any, conversation: Conversation) -> ReplyFinal:
    return ReplyFinal(
        message_id=prepared.assistant_message_id,
        status="complete",
        steps=[{"id": "s1", "type": "text", "content": TEXT + " occurs."}],
        text=TEXT + " occurs.",
        usage={"prompt_tokens": 20, "completion_tokens": 30, "total_tokens": 50},
        ledger=LedgerEntry(
            user_id=user.pk,
            provider_id=provider.pk,
            model="fake-model",
            kind=UsageKind.CHAT,
            calls=[CallUsage(20, 30)],
            conversation_id=conversation.pk,
            message_id=prepared.assistant_message_id,
            reservation=prepared.reservation,
        ),
    )


def test_a_cut_call_keeps_the_ledger_kind_it_reserved_under(user: Any, openai_provider: Any) -> None:
    # given a reservation kept for a room's closing summary, and one kept with no kind
    reservation = turn_admit(user=user, tokens=100, cost_micros=0, stream=False)
    summary = reservation_data(reservation, provider_id=openai_provider.pk, prompt_tokens=10, kind=UsageKind.SUMMARY)
    plain = reservation_data(reservation, provider_id=openai_provider.pk, prompt_tokens=10)
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    # then a message cut by a crash is settled under that kind, else its usual one
    assert background.cut_reply_of(Message(user=user, room_id="r1", usage_reserved=summary)).kind == UsageKind.SUMMARY
    assert background.cut_reply_of(Message(user=user, room_id="r1", usage_reserved=plain)).kind == UsageKind.ROOM
    assert background.cut_reply_of(Message(user=user, conversation=conversation, usage_reserved=plain)).kind == UsageKind.CHAT
