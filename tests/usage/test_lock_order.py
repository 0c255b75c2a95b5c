"""A user's counters row is locked by every turn of theirs (admission and settlement), so
each transaction takes it as its last write and holds it only until its commit; the
ledger settles each user once, in user order, so two writers cannot deadlock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any
from unittest import mock

import pytest
from django.db import connection, transaction
from django.utils import timezone

from agents.runtime import CallUsage
from chat import services
from chat.models import Conversation, Message
from chat.progress import ReplyFinal, replies_write
from tests.support.factories import make_user
from usage.limits import LimitExceeded, reservation_admit, turn_admit, turn_reservation
from usage.models import UsageAccount, UsageKind, UsageRecord
from usage.services import CutReply, LedgerEntry, cut_replies_settle, ledger_write, reservation_data, usage_record

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
    assert not UsageRecord.objects.exists()
    account = UsageAccount.objects.get(user=user)
    assert (account.day_tokens, account.month_tokens, account.active_streams, account.minute_requests) == (0, 0, 0, 0)


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


def test_a_first_turn_counts_its_questions_embedding(user: Any, openai_provider: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a user without counters yet, whose question is embedded to search their documents
    def with_knowledge(system_prompt: str, **kwargs: Any) -> Any:
        usage_record(LedgerEntry(user_id=user.pk, provider_id=None, model="emb", kind=UsageKind.EMBEDDING, calls=[CallUsage(50, 0)]))
        return system_prompt, []

    monkeypatch.setattr(services, "_with_knowledge", with_knowledge)
    assert not UsageAccount.objects.filter(user=user).exists()
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    # when their first turn is set up
    prepared = services.turn_prepare(user=user, conversation_id=conversation.pk, content="Explain TCP slow start.")
    # then the counters hold the turn's reservation and the embedding's tokens
    assert prepared.reservation is not None
    account = UsageAccount.objects.get(user=user)
    assert (account.day_tokens, account.month_tokens) == (prepared.reservation.tokens + 50,) * 2
    assert UsageRecord.objects.filter(user=user, kind=UsageKind.EMBEDDING).count() == 1


def _moment(*parts: int) -> datetime:
    return timezone.make_aware(datetime(*parts), timezone.get_current_timezone())


def test_a_reservation_planned_before_midnight_counts_in_the_day_the_row_has_reached(user: Any) -> None:
    # given a turn planned at 23:59:59 of 31 March, and another turn already counted on 1 April
    before, after = _moment(2026, 3, 31, 23, 59, 59), _moment(2026, 4, 1, 0, 0, 1)
    UsageAccount.objects.create(user=user, day=after.date(), month=after.date().replace(day=1), day_tokens=5000, month_tokens=5000)
    with mock.patch("usage.limits.timezone.now", return_value=before):
        planned = turn_reservation(user_id=user.pk, tokens=100, cost_micros=0)
    # when it is admitted after midnight
    with mock.patch("usage.limits.timezone.now", return_value=after), transaction.atomic():
        admitted = reservation_admit(user=user, reservation=planned)
    # then the new day's and month's counters keep what they held, plus the reservation
    account = UsageAccount.objects.get(user=user)
    assert (account.day, account.day_tokens, account.month, account.month_tokens) == (date(2026, 4, 1), 5100, date(2026, 4, 1), 5100)
    assert (admitted.day, admitted.month, admitted.tokens) == (date(2026, 4, 1), date(2026, 4, 1), 100)


def test_a_turns_reply_keeps_the_period_its_reservation_was_admitted_for(user: Any, openai_provider: Any) -> None:
    # given a user's row already counting 1 April while this server's clock still says 31 March
    UsageAccount.objects.create(user=user, day=date(2026, 4, 1), month=date(2026, 4, 1), day_tokens=5000, month_tokens=5000)
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    with mock.patch("usage.limits.timezone.now", return_value=_moment(2026, 3, 31, 23, 59, 59)):
        prepared = services.turn_prepare(user=user, conversation_id=conversation.pk, content="Explain TCP slow start.")
    # then the reply keeps the reservation as counted, for its settlement
    assert prepared.reservation is not None and prepared.reservation.day == date(2026, 4, 1)
    reserved = Message.objects.get(pk=prepared.assistant_message_id).usage_reserved
    assert (reserved["day"], reserved["month"]) == ("2026-04-01", "2026-04-01")
    assert UsageAccount.objects.get(user=user).day_tokens == 5000 + prepared.reservation.tokens


def test_the_sweep_settles_and_releases_each_user_once_in_user_order(user: Any) -> None:
    # given two cut replies: the higher id's kept its reservation, the lower id's kept none
    other = make_user(username="second", level=3)
    first, second = sorted([user, other], key=lambda u: u.pk)
    held = turn_admit(user=second, tokens=1000, cost_micros=0)
    turn_admit(user=first, tokens=0, cost_micros=0)
    reserved = reservation_data(held, provider_id=None, prompt_tokens=10)
    cut = [
        CutReply(second.pk, "m2", None, "m", reserved=reserved, usage=None, produced="a few words"),
        CutReply(first.pk, "m1", None, "m", reserved=None, usage=None, produced=""),
    ]
    # when the sweep settles them
    with statements() as seen, transaction.atomic():
        cut_replies_settle(cut)
    # then one UPDATE moves both users' counters, the lower id first, and frees both streams
    settles = [params for sql, params in seen if sql.startswith(f'UPDATE "{ACCOUNTS}"')]
    assert len(settles) == 1 and [row[-1] for row in settles[0]] == [first.pk, second.pk]
    accounts = {a.user_id: a for a in UsageAccount.objects.all()}
    assert (accounts[first.pk].active_streams, accounts[second.pk].active_streams) == (0, 0)
    assert accounts[second.pk].day_tokens < 1000


def test_a_settlement_on_a_clock_behind_keeps_the_later_day_the_row_counts(user: Any) -> None:
    # given a turn reserved on 31 March, and the row already counting 1 April (another
    # server's clock ran ahead: 5,000 tokens there)
    with mock.patch("usage.limits.timezone.now", return_value=_moment(2026, 3, 31, 23, 59, 58)):
        held = turn_admit(user=user, tokens=100, cost_micros=0)
    UsageAccount.objects.filter(user=user).update(day=date(2026, 4, 1), month=date(2026, 4, 1), day_tokens=5000, month_tokens=5000)
    # when this server settles it while its clock still says 31 March
    with mock.patch("usage.services.timezone.now", return_value=_moment(2026, 3, 31, 23, 59, 59)), transaction.atomic():
        ledger_write([_entry(user, held, 60)])
    # then the row still counts 1 April, with what the turn used added (its reservation
    # was counted on 31 March, which the row no longer holds)
    account = UsageAccount.objects.get(user=user)
    assert (account.day, account.day_tokens, account.month, account.month_tokens) == (date(2026, 4, 1), 5060, date(2026, 4, 1), 5060)
    assert account.active_streams == 0


def test_a_reservation_admitted_for_a_later_day_is_settled_in_it(user: Any) -> None:
    # given a reservation planned on 31 March and admitted for 1 April, which the row counts
    UsageAccount.objects.create(user=user, day=date(2026, 4, 1), month=date(2026, 4, 1), day_tokens=5000, month_tokens=5000)
    with mock.patch("usage.limits.timezone.now", return_value=_moment(2026, 3, 31, 23, 59, 59)), transaction.atomic():
        held = reservation_admit(user=user, reservation=turn_reservation(user_id=user.pk, tokens=100, cost_micros=0))
    assert UsageAccount.objects.get(user=user).day_tokens == 5100
    # when it is settled on a clock that still says 31 March
    with mock.patch("usage.services.timezone.now", return_value=_moment(2026, 3, 31, 23, 59, 59)), transaction.atomic():
        ledger_write([_entry(user, held, 60)])
    # then 1 April gives back the reservation and keeps what was used
    account = UsageAccount.objects.get(user=user)
    assert (account.day, account.day_tokens, account.month_tokens) == (date(2026, 4, 1), 5060, 5060)


def test_each_user_is_settled_in_their_own_day(user: Any) -> None:
    # given one user's turn admitted for 1 April (their row ran ahead) and another's on 31 March
    other = make_user(username="second", level=3)
    UsageAccount.objects.create(user=other, day=date(2026, 4, 1), month=date(2026, 4, 1), day_tokens=5000, month_tokens=5000)
    late = _moment(2026, 3, 31, 23, 59, 59)
    with mock.patch("usage.limits.timezone.now", return_value=late), transaction.atomic():
        ahead = reservation_admit(user=other, reservation=turn_reservation(user_id=other.pk, tokens=100, cost_micros=0))
        behind = turn_admit(user=user, tokens=100, cost_micros=0)
    # when both are settled together on a clock that says 31 March
    with mock.patch("usage.services.timezone.now", return_value=late), transaction.atomic():
        ledger_write([_entry(other, ahead, 60), _entry(user, behind, 40)])
    # then each row stays in its own day, its reservation given back there
    accounts = {a.user_id: a for a in UsageAccount.objects.all()}
    assert (accounts[other.pk].day, accounts[other.pk].day_tokens) == (date(2026, 4, 1), 5060)
    assert (accounts[user.pk].day, accounts[user.pk].day_tokens) == (date(2026, 3, 31), 40)
