"""A user's counters row is locked by every turn of theirs (admission and settlement), so
each transaction takes it as its last write and holds it only until its commit; the
ledger settles each user once, in user order, so two writers cannot deadlock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, transaction

from agents.runtime import CallUsage
from chat import services
from chat.models import Conversation, Message
from chat.progress import ReplyFinal, replies_write
from tests.support.factories import make_user
from usage.limits import LimitExceeded, turn_admit
from usage.models import UsageAccount, UsageKind
from usage.services import LedgerEntry, ledger_write

pytestmark = pytest.mark.django_db

ACCOUNTS = UsageAccount._meta.db_table


@contextmanager
def statements() -> Iterator[list[tuple[str, Any]]]:
    """Every statement run on the connection in the block, with its parameters (a list of
    parameter sets for executemany)."""
    seen: list[tuple[str, Any]] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append((sql, list(params) if many else params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen


def _writes(seen: list[tuple[str, Any]]) -> list[str]:
    return [sql for sql, _ in seen if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def _entry(user: Any, reservation: Any, used: int) -> LedgerEntry:
    return LedgerEntry(
        user_id=user.pk, provider_id=None, model="m", kind=UsageKind.CHAT, calls=[CallUsage(used, 0)], reservation=reservation
    )


def test_the_ledger_settles_each_user_once_in_user_order(user: Any) -> None:
    # given three admitted turns, two of them another user's, given out of user order
    other = make_user(username="second", level=3)
    first, second = sorted([user, other], key=lambda u: u.pk)
    held = [turn_admit(user=u, tokens=1000, cost_micros=0) for u in (second, first, second)]
    assert UsageAccount.objects.get(user=second).day_tokens == 2000
    # when their calls are recorded together
    with statements() as seen, transaction.atomic():
        ledger_write([_entry(second, held[0], 100), _entry(first, held[1], 40), _entry(second, held[2], 60)])
    # then one UPDATE settles each user, the lower id first
    settles = [params for sql, params in seen if sql.startswith(f'UPDATE "{ACCOUNTS}"')]
    assert len(settles) == 1 and [row[-1] for row in settles[0]] == [first.pk, second.pk]
    # and each user's counters hold what was used, their streams released
    accounts = {a.user_id: a for a in UsageAccount.objects.all()}
    assert (accounts[second.pk].day_tokens, accounts[second.pk].month_tokens, accounts[second.pk].active_streams) == (160, 160, 0)
    assert (accounts[first.pk].day_tokens, accounts[first.pk].active_streams) == (40, 0)


def test_a_turns_set_up_admits_it_as_its_last_write(user: Any, openai_provider: Any) -> None:
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    with statements() as seen:
        prepared = services.turn_prepare(user=user, conversation_id=conversation.pk, content="Explain TCP slow start.")
    writes = _writes(seen)
    assert any(sql.startswith('INSERT INTO "chat_message"') for sql in writes[:-1])
    assert writes[-1].startswith(f'UPDATE "{ACCOUNTS}"') and "active_streams = active_streams + 1" in writes[-1]
    assert UsageAccount.objects.get(user=user).active_streams == 1
    assert Message.objects.get(pk=prepared.assistant_message_id).usage_reserved["tokens"] == prepared.reservation.tokens


def test_a_refused_turn_saves_nothing(user: Any, openai_provider: Any) -> None:
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    UsageAccount.objects.create(user=user, concurrent_streams=0)
    with pytest.raises(LimitExceeded):
        services.turn_prepare(user=user, conversation_id=conversation.pk, content="Explain TCP slow start.")
    assert not Message.objects.exists()
    assert Conversation.objects.get(pk=conversation.pk).current_leaf_id is None


def test_the_reply_writer_settles_after_its_other_writes(user: Any, openai_provider: Any) -> None:
    # given a reply whose conversation still has its default title (its final queues the title task)
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    prepared = services.turn_prepare(user=user, conversation_id=conversation.pk, content="Explain TCP slow start.")
    other = services.turn_prepare(
        user=user, conversation_id=Conversation.objects.create(user=user, provider=openai_provider, model="fake-model").pk, content="Hi"
    )
    final = ReplyFinal(
        message_id=prepared.assistant_message_id,
        status="complete",
        steps=[{"id": "s1", "type": "text", "content": "Done."}],
        text="Done.",
        usage={"prompt_tokens": 20, "completion_tokens": 30, "total_tokens": 50},
        title_conversation_id=conversation.pk,
        ledger=LedgerEntry(
            user_id=user.pk,
            provider_id=openai_provider.pk,
            model="fake-model",
            kind=UsageKind.CHAT,
            calls=[CallUsage(20, 30)],
            conversation_id=conversation.pk,
            message_id=prepared.assistant_message_id,
            reservation=prepared.reservation,
        ),
    )
    # when the writer writes its end beside another reply's heartbeat
    with statements() as seen:
        replies_write(progress=[], finals=[final], alive=[other.assistant_message_id])
    # then the title task and the heartbeat come before the user's counters are locked
    writes = _writes(seen)
    assert any("task" in sql.split()[2] for sql in writes[:-1]), writes
    assert writes[-1].startswith(f'UPDATE "{ACCOUNTS}"') and writes[-2].startswith('INSERT INTO "usage_usagerecord"')
    assert UsageAccount.objects.get(user=user).active_streams == 1
