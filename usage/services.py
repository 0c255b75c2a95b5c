"""Writes of the ledger: usage rows, and the settling of the counters limits check.

:func:`ledger_write` runs inside the caller's transaction: a chat turn's rows are
written by the reply writer's group commit together with the reply's final state
(chat/progress.py), a room turn's with the transaction that closes the turn. Any number
of turns costs two statements.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import connection
from django.utils import timezone

from agents.runtime import CallUsage
from luxx.text import estimate_tokens
from usage import prices
from usage.limits import Reservation, reservation_admit, turn_reservation
from usage.models import LIMIT_NAMES, UsageAccount, UsageKind, UsageRecord


@dataclass(slots=True)
class LedgerEntry:
    """The model calls of one turn (or one embeddings request), to be recorded."""

    user_id: int
    provider_id: int | None
    model: str
    kind: str
    calls: Sequence[CallUsage]
    conversation_id: str | None = None
    room_id: str | None = None
    message_id: str | None = None
    document_id: int | None = None
    reservation: Reservation | None = None
    # Later calls of a chat turn are the tool loop's.
    kind_after_first: str | None = None
    records: list[UsageRecord] = field(default_factory=list)


def turn_cost_reservation(
    *, user: Any, provider_id: int | None, model: str, prompt_estimate: int, max_tokens: int, stream: bool
) -> Reservation:
    """What a turn will reserve: its estimated prompt and its maximum output, priced from
    the price table. Nothing is written: :func:`usage.limits.reservation_admit` admits it."""
    price = prices.price_for(provider_id, model)
    cost = prices.cost_micros(price, prompt_tokens=prompt_estimate, completion_tokens=max_tokens)
    return turn_reservation(user_id=user.pk, tokens=prompt_estimate + max_tokens, cost_micros=cost, stream=stream)


def reserve_for_turn(*, user: Any, provider_id: int | None, model: str, prompt_estimate: int, max_tokens: int, stream: bool) -> Reservation:
    """Admit a turn (see usage.limits.reservation_admit), reserving what
    :func:`turn_cost_reservation` says."""
    planned = turn_cost_reservation(
        user=user, provider_id=provider_id, model=model, prompt_estimate=prompt_estimate, max_tokens=max_tokens, stream=stream
    )
    return reservation_admit(user=user, reservation=planned)


def prompt_estimate(system_prompt: str, messages: Sequence[dict[str, Any]]) -> int:
    """The tokens a call's prompt will have, about (as agents.runtime estimates it)."""
    total = estimate_tokens(system_prompt)
    for message in messages:
        content = message.get("content")
        total += 4 + (estimate_tokens(content) if isinstance(content, str) else 0)
    return total


def _records(entry: LedgerEntry, now: Any) -> list[UsageRecord]:
    price = prices.price_for(entry.provider_id, entry.model)
    records = []
    for index, call in enumerate(entry.calls):
        kind = entry.kind if index == 0 or entry.kind_after_first is None else entry.kind_after_first
        records.append(
            UsageRecord(
                user_id=entry.user_id,
                provider_id=entry.provider_id,
                model=entry.model,
                kind=kind,
                prompt_tokens=call.prompt_tokens,
                completion_tokens=call.completion_tokens,
                cached_tokens=call.cached_tokens,
                cost_micros=prices.cost_micros(
                    price, prompt_tokens=call.prompt_tokens, completion_tokens=call.completion_tokens, cached_tokens=call.cached_tokens
                ),
                priced=price is not None,
                estimated=call.estimated,
                conversation_id=entry.conversation_id,
                room_id=entry.room_id,
                message_id=entry.message_id,
                document_id=entry.document_id,
                created_at=now,
            )
        )
    return records


@dataclass(slots=True)
class _Settlement:
    """What one user's counters move by, settled in ``today``: ``*_delta`` when the row
    counts that day (month), ``*_used`` (what was used, nothing given back) when it
    already counts a later one, where no reservation being settled was counted."""

    today: date
    day_tokens_delta: int = 0
    day_cost_delta: int = 0
    month_tokens_delta: int = 0
    month_cost_delta: int = 0
    tokens_used: int = 0
    cost_used: int = 0
    streams: int = 0

    def add(self, entry: LedgerEntry, records: list[UsageRecord]) -> None:
        tokens = sum(r.prompt_tokens + r.completion_tokens for r in records)
        cost = sum(r.cost_micros for r in records)
        res = entry.reservation
        day_delta = (tokens - res.tokens, cost - res.cost_micros) if res is not None and res.day == self.today else (tokens, cost)
        month = self.today.replace(day=1)
        month_delta = (tokens - res.tokens, cost - res.cost_micros) if res is not None and res.month == month else (tokens, cost)
        self.day_tokens_delta += day_delta[0]
        self.day_cost_delta += day_delta[1]
        self.month_tokens_delta += month_delta[0]
        self.month_cost_delta += month_delta[1]
        self.tokens_used += tokens
        self.cost_used += cost
        self.streams += 1 if res is not None and res.stream else 0

    def params(self, user_id: int) -> tuple[Any, ...]:
        adapt = connection.ops.adapt_datefield_value
        d, m = adapt(self.today), adapt(self.today.replace(day=1))
        return (
            *(d, self.day_tokens_delta, d, self.tokens_used, self.day_tokens_delta),
            *(d, self.day_cost_delta, d, self.cost_used, self.day_cost_delta),
            *(d, d),
            *(m, self.month_tokens_delta, m, self.tokens_used, self.month_tokens_delta),
            *(m, self.month_cost_delta, m, self.cost_used, self.month_cost_delta),
            *(m, m),
            self.streams,
            self.streams,
            user_id,
        )


def _settled(column: str, period: str) -> str:
    """``column`` moved: by the delta when the row counts the settlement's period, by
    what was used when it counts a later one, from 0 when it counts an earlier one."""
    return _nonneg(f"CASE WHEN {period} = %s THEN {column} + %s WHEN {period} > %s THEN {column} + %s ELSE %s END")


def _nonneg(expression: str) -> str:
    greatest = "MAX" if connection.vendor == "sqlite" else "GREATEST"
    return f"{greatest}({expression}, 0)"


def ledger_write(entries: Sequence[LedgerEntry], *, released_streams: Sequence[int] = ()) -> list[UsageRecord]:
    """Record the entries' calls and settle their reservations (the counters move from
    what was reserved to what was used; an entry without one adds what it used; a
    counter never goes below 0), and give back one stream of each user in
    ``released_streams`` (a reply whose process died and that kept no reservation). Call
    inside a transaction, as its last writes: the users' counters stay locked until it
    ends, and every turn of theirs waits for them. Answers the rows written."""
    if not entries and not released_streams:
        return []
    now = timezone.now()
    # Each user is settled in their day: this clock's, or the latest a reservation of
    # theirs was admitted for (see usage.limits.reservation_admit), which gives it back.
    days = dict.fromkeys([*(entry.user_id for entry in entries), *released_streams], timezone.localdate(now))
    for entry in entries:
        if entry.reservation is not None:
            days[entry.user_id] = max(days[entry.user_id], entry.reservation.day)
    settlements = {user_id: _Settlement(day) for user_id, day in days.items()}
    records: list[UsageRecord] = []
    for entry in entries:
        rows = _records(entry, now)
        entry.records = rows
        records.extend(rows)
        settlements[entry.user_id].add(entry, rows)
    for user_id in released_streams:
        settlements[user_id].streams += 1
    if records:
        UsageRecord.objects.bulk_create(records)
    table = connection.ops.quote_name(UsageAccount._meta.db_table)
    # A row already counting a later day or month (another server's clock ran ahead) is
    # not taken back to this one.
    sql = (
        f"UPDATE {table} SET "
        f"day_tokens = {_settled('day_tokens', 'day')}, day_cost_micros = {_settled('day_cost_micros', 'day')}, "
        "day = CASE WHEN day > %s THEN day ELSE %s END, "
        f"month_tokens = {_settled('month_tokens', 'month')}, month_cost_micros = {_settled('month_cost_micros', 'month')}, "
        "month = CASE WHEN month > %s THEN month ELSE %s END, "
        "active_streams = CASE WHEN active_streams > %s THEN active_streams - %s ELSE 0 END "
        "WHERE user_id = %s"
    )
    # One UPDATE per user, in user order: two writers settling the same users lock their
    # rows in the same order, so they cannot deadlock.
    with connection.cursor() as cursor:
        cursor.executemany(sql, [settlements[user_id].params(user_id) for user_id in sorted(settlements)])
    return records


_deferred: contextvars.ContextVar[list[LedgerEntry] | None] = contextvars.ContextVar("luxx_usage_deferred", default=None)


@contextlib.contextmanager
def usage_deferred() -> Iterator[list[LedgerEntry]]:
    """Within the block, :func:`usage_record` collects its entries in the yielded list
    instead of writing them: the caller writes them with :func:`ledger_write` in its own
    transaction (a chat turn's set-up, for the embedding of its question)."""
    pending: list[LedgerEntry] = []
    token = _deferred.set(pending)
    try:
        yield pending
    finally:
        _deferred.reset(token)


def usage_record(entry: LedgerEntry) -> None:
    """Record calls made outside a turn (embeddings), in a transaction of their own (the
    user's counters are created when missing), or collect them (:func:`usage_deferred`)."""
    pending = _deferred.get()
    if pending is not None:
        pending.append(entry)
        return
    from luxx.db import write_transaction

    with write_transaction():
        UsageAccount.objects.get_or_create(user_id=entry.user_id)
        ledger_write([entry])


def reservation_data(reservation: Reservation, *, provider_id: int | None, prompt_tokens: int, kind: str = "") -> dict[str, Any]:
    """What a reply keeps of its reservation (``Message.usage_reserved``), so that the
    sweep of a reply whose process died can settle it (:func:`cut_replies_settle`);
    ``kind``: the ledger kind of its call when it is not the message's usual one (a
    room's closing summary)."""
    return {
        "kind": kind,
        "day": reservation.day.isoformat(),
        "month": reservation.month.isoformat(),
        "tokens": reservation.tokens,
        "cost_micros": reservation.cost_micros,
        "stream": reservation.stream,
        "provider_id": provider_id,
        "prompt_tokens": prompt_tokens,
    }


@dataclass(frozen=True, slots=True)
class CutReply:
    """A reply (or a room's turn) whose process died before its final write, as stored."""

    user_id: int
    message_id: str
    conversation_id: str | None
    model: str
    reserved: dict[str, Any] | None
    usage: dict[str, Any] | None
    produced: str  # its text and thinking up to the last save
    kind: str = UsageKind.CHAT
    room_id: str | None = None


def _cut_calls(reply: CutReply, reserved: dict[str, Any]) -> list[CallUsage]:
    """What a cut reply used: its stored usage when it has token counts, else an estimate
    of what it produced; nothing when it produced nothing (the model may never have been
    called)."""
    usage = reply.usage or {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int) and prompt + completion > 0:
        cached = usage.get("cached_tokens")
        return [CallUsage(prompt, completion, cached if isinstance(cached, int) else 0, bool(usage.get("estimated")))]
    if reply.produced:
        return [CallUsage(int(reserved.get("prompt_tokens") or 0), estimate_tokens(reply.produced), 0, True)]
    return []


def cut_replies_settle(replies: Sequence[CutReply]) -> list[UsageRecord]:
    """Settle the reservations of replies whose process died: record what each used
    (see _cut_calls), move the counters from what was reserved to that, and give back its
    stream. A reply that kept no reservation (one started before they were kept) only
    gives back its stream. Call inside the transaction that marks them interrupted;
    answers the rows written."""
    entries = []
    without = []
    for reply in replies:
        reserved = reply.reserved
        if not isinstance(reserved, dict):
            without.append(reply.user_id)
            continue
        reservation = Reservation(
            user_id=reply.user_id,
            day=date.fromisoformat(reserved["day"]),
            month=date.fromisoformat(reserved["month"]),
            tokens=int(reserved["tokens"]),
            cost_micros=int(reserved["cost_micros"]),
            stream=bool(reserved["stream"]),
        )
        entries.append(
            LedgerEntry(
                user_id=reply.user_id,
                provider_id=reserved.get("provider_id"),
                model=reply.model,
                kind=reply.kind,
                calls=_cut_calls(reply, reserved),
                conversation_id=reply.conversation_id,
                room_id=reply.room_id,
                message_id=reply.message_id,
                reservation=reservation,
            )
        )
    return ledger_write(entries, released_streams=without)


def limits_update(*, user: Any, changes: dict[str, Any]) -> UsageAccount:
    """Set ``user``'s own limits named in ``changes`` (None: their level's default); the
    others are kept. The counters are left as they are."""
    unknown = set(changes) - set(LIMIT_NAMES)
    if unknown:
        raise ValueError(f"not limits: {sorted(unknown)}")
    from luxx.db import write_transaction

    with write_transaction():
        account, _ = UsageAccount.objects.update_or_create(user_id=user.pk, defaults=changes)
    return account


__all__ = [
    "CutReply",
    "LedgerEntry",
    "UsageKind",
    "cut_replies_settle",
    "ledger_write",
    "limits_update",
    "prompt_estimate",
    "reservation_admit",
    "reservation_data",
    "reserve_for_turn",
    "turn_cost_reservation",
    "usage_deferred",
    "usage_record",
]
