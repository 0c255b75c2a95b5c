"""Limits, checked before the model is called and counted atomically.

A turn is admitted by one conditional UPDATE of the user's :class:`UsageAccount` row:
it raises the counters (requests this minute, streams open, tokens and cost reserved
for the day and the month) only if every limit still holds, so two requests at once
cannot both take the last place: PostgreSQL re-checks the condition on the locked row,
SQLite runs one writer at a time. The limits themselves come from the same statement
(the user's own, else their level's), so admission costs one indexed query.

Token and cost limits hold while the period's usage, with what turns in progress have
reserved, is under the limit: a turn reserves its estimated prompt and its maximum
output, and its final write (:func:`usage.services.ledger_write`) settles the
reservation with what the calls really used.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from rest_framework import exceptions

from usage.models import LIMIT_NAMES, MICROS, LevelLimit, UsageAccount

STREAM_RETRY_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Reservation:
    """What an admitted turn holds until its final write settles it."""

    user_id: int
    day: date
    month: date
    tokens: int
    cost_micros: int
    stream: bool


@dataclass(frozen=True, slots=True)
class Refusal:
    limit: str
    value: Any
    resets_at: datetime | None
    wait_seconds: int


class LimitExceeded(exceptions.Throttled):
    """A usage limit refused the request: 429 with the limit, its value and when it
    resets in the message (in the caller's language), and ``Retry-After``."""

    def __init__(self, refusal: Refusal):
        # The exception handler answers Retry-After as int(wait) + 1.
        super().__init__(wait=refusal.wait_seconds - 1)
        self.refusal = refusal
        self.luxx_message = limit_message(refusal)


def _now_parts(now: datetime) -> tuple[date, date, int]:
    day = timezone.localdate(now)
    return day, day.replace(day=1), int(now.timestamp() // 60)


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _limit_sql(name: str) -> str:
    """The effective limit: the user's own, else their level's (a scalar subquery)."""
    return f"COALESCE({name}, (SELECT lv.{name} FROM {_table(LevelLimit)} lv WHERE lv.permission_level = %(level)s))"


def _admit_update(*, user_id: int, level: int, day: date, month: date, minute: int, tokens: int, cost: int, stream: bool) -> bool:
    day_tokens = "(CASE WHEN day = %(day)s THEN day_tokens ELSE 0 END)"
    day_cost = "(CASE WHEN day = %(day)s THEN day_cost_micros ELSE 0 END)"
    month_tokens = "(CASE WHEN month = %(month)s THEN month_tokens ELSE 0 END)"
    month_cost = "(CASE WHEN month = %(month)s THEN month_cost_micros ELSE 0 END)"
    requests = "(CASE WHEN minute = %(minute)s THEN minute_requests ELSE 0 END)"
    sets = [
        f"day_tokens = {day_tokens} + %(tokens)s",
        f"day_cost_micros = {day_cost} + %(cost)s",
        "day = %(day)s",
        f"month_tokens = {month_tokens} + %(tokens)s",
        f"month_cost_micros = {month_cost} + %(cost)s",
        "month = %(month)s",
    ]
    # A NULL limit makes its comparison NULL, which COALESCE turns into "holds". A row
    # already counting a later day or month is not taken back to this one.
    conditions = [
        "(day IS NULL OR day <= %(day)s)",
        "(month IS NULL OR month <= %(month)s)",
        f"COALESCE({day_tokens} < {_limit_sql('tokens_per_day')}, TRUE)",
        f"COALESCE({month_tokens} < {_limit_sql('tokens_per_month')}, TRUE)",
        f"COALESCE({day_cost} < {_limit_sql('cost_per_day')} * 1000000, TRUE)",
        f"COALESCE({month_cost} < {_limit_sql('cost_per_month')} * 1000000, TRUE)",
    ]
    if stream:
        sets += [f"minute_requests = {requests} + 1", "minute = %(minute)s", "active_streams = active_streams + 1"]
        conditions += [
            f"COALESCE(active_streams < {_limit_sql('concurrent_streams')}, TRUE)",
            f"COALESCE({requests} < {_limit_sql('requests_per_minute')}, TRUE)",
        ]
    sql = f"UPDATE {_table(UsageAccount)} SET {', '.join(sets)} WHERE user_id = %(user)s AND {' AND '.join(conditions)}"
    params = {
        "user": user_id,
        "level": level,
        "day": connection.ops.adapt_datefield_value(day),
        "month": connection.ops.adapt_datefield_value(month),
        "minute": minute,
        "tokens": tokens,
        "cost": cost,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def effective_limits(account: UsageAccount | None, level: LevelLimit | None) -> dict[str, Any]:
    """Each limit: the user's own, else their level's, else None."""
    limits: dict[str, Any] = {}
    for name in LIMIT_NAMES:
        own = getattr(account, name) if account is not None else None
        limits[name] = own if own is not None else (getattr(level, name) if level is not None else None)
    return limits


def _next_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def period_resets(now: datetime) -> dict[str, datetime]:
    day, month, minute = _now_parts(now)
    next_month = (month + timedelta(days=32)).replace(day=1)
    return {
        "day": _next_midnight(day + timedelta(days=1)),
        "month": _next_midnight(next_month),
        "minute": datetime.fromtimestamp((minute + 1) * 60, tz=timezone.get_current_timezone()),
    }


def _refusal(account: UsageAccount, limits: dict[str, Any], now: datetime, *, stream: bool) -> Refusal | None:
    """Which limit refuses a turn now, as the admission's condition says."""
    day, month, minute = _now_parts(now)
    resets = period_resets(now)
    day_tokens = account.day_tokens if account.day == day else 0
    day_cost = account.day_cost_micros if account.day == day else 0
    month_tokens = account.month_tokens if account.month == month else 0
    month_cost = account.month_cost_micros if account.month == month else 0
    requests = account.minute_requests if account.minute == minute else 0
    checks: list[tuple[str, bool, datetime | None]] = [
        ("tokens_per_day", limits["tokens_per_day"] is not None and day_tokens >= limits["tokens_per_day"], resets["day"]),
        ("tokens_per_month", limits["tokens_per_month"] is not None and month_tokens >= limits["tokens_per_month"], resets["month"]),
        ("cost_per_day", limits["cost_per_day"] is not None and day_cost >= limits["cost_per_day"] * MICROS, resets["day"]),
        ("cost_per_month", limits["cost_per_month"] is not None and month_cost >= limits["cost_per_month"] * MICROS, resets["month"]),
    ]
    if stream:
        streams, rate = limits["concurrent_streams"], limits["requests_per_minute"]
        checks += [
            ("concurrent_streams", streams is not None and account.active_streams >= streams, None),
            ("requests_per_minute", rate is not None and requests >= rate, resets["minute"]),
        ]
    for name, exceeded, resets_at in checks:
        if exceeded:
            wait = int((resets_at - now).total_seconds()) + 1 if resets_at is not None else STREAM_RETRY_SECONDS
            return Refusal(name, limits[name], resets_at, max(wait, 1))
    return None


def turn_reservation(*, user_id: int, tokens: int, cost_micros: int, stream: bool = True) -> Reservation:
    """What admitting a turn now would reserve; nothing is written (see :func:`reservation_admit`)."""
    day, month, _minute = _now_parts(timezone.now())
    return Reservation(user_id, day, month, tokens, cost_micros, stream)


def _caught_up(reservation: Reservation, account: UsageAccount) -> Reservation:
    """``reservation`` for the day and month ``account`` counts, where they are later."""
    day = max(account.day or reservation.day, reservation.day)
    month = max(account.month or reservation.month, reservation.month)
    return replace(reservation, day=day, month=month)


def reservation_admit(*, user: Any, reservation: Reservation) -> Reservation:
    """Admit ``reservation`` (of ``user``), or raise :class:`LimitExceeded`. A stream's is
    also counted against the concurrency and rate limits, holding a stream until its final
    write.

    Call inside the transaction that sets the turn up, so a refusal undoes it all, and
    as its last statement: the user's row stays locked until the transaction ends, and
    every turn of the user waits for it. The admitted path is one UPDATE; a user's first
    turn also creates their row.

    Answers the reservation admitted: ``reservation`` itself, or, when the user's row
    already counts a later day or month than it was planned for (planned before
    midnight, admitted after another turn of the new day), the same amounts for that
    period, which the caller keeps instead."""
    for _attempt in range(3):
        now = timezone.now()
        admitted = _admit_update(
            user_id=user.pk,
            level=user.permission_level,
            day=reservation.day,
            month=reservation.month,
            minute=_now_parts(now)[2],
            tokens=reservation.tokens,
            cost=reservation.cost_micros,
            stream=reservation.stream,
        )
        if admitted:
            return reservation
        account = UsageAccount.objects.filter(user_id=user.pk).first()
        if account is None:
            UsageAccount.objects.get_or_create(user_id=user.pk)
            continue
        caught_up = _caught_up(reservation, account)
        if caught_up != reservation:
            reservation = caught_up
            continue
        level = LevelLimit.objects.filter(permission_level=user.permission_level).first()
        refusal = _refusal(account, effective_limits(account, level), now, stream=reservation.stream)
        if refusal is not None:
            raise LimitExceeded(refusal)
        # A turn ended between the UPDATE and the look: try again.
    raise LimitExceeded(Refusal("concurrent_streams", None, None, STREAM_RETRY_SECONDS))


def turn_admit(*, user: Any, tokens: int, cost_micros: int, stream: bool = True) -> Reservation:
    """Admit a model turn of ``user`` reserving ``tokens`` and ``cost_micros`` (see
    :func:`reservation_admit`)."""
    return reservation_admit(
        user=user, reservation=turn_reservation(user_id=user.pk, tokens=tokens, cost_micros=cost_micros, stream=stream)
    )


def limits_check(*, user: Any) -> None:
    """Raise :class:`LimitExceeded` when one of ``user``'s token or cost limits is reached
    now; reserves nothing (a room's start: each call of its run reserves as it comes)."""
    turn_admit(user=user, tokens=0, cost_micros=0, stream=False)


def _format_value(limit: str, value: Any) -> str:
    if limit.startswith("cost_"):
        return f"{Decimal(value).quantize(Decimal('0.01'))} {settings.LUXX_USAGE_CURRENCY}"
    return number_format(value, force_grouping=True)


def _format_reset(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


def limit_message(refusal: Refusal) -> str:
    """The refusal in plain words: which limit, its value, when it resets."""
    value = _format_value(refusal.limit, refusal.value) if refusal.value is not None else ""
    reset = _format_reset(refusal.resets_at) if refusal.resets_at is not None else ""
    messages = {
        "tokens_per_day": _("Daily token limit reached: %(value)s tokens a day. It resets at %(reset)s."),
        "tokens_per_month": _("Monthly token limit reached: %(value)s tokens a month. It resets at %(reset)s."),
        "cost_per_day": _("Daily cost limit reached: %(value)s a day. It resets at %(reset)s."),
        "cost_per_month": _("Monthly cost limit reached: %(value)s a month. It resets at %(reset)s."),
        "concurrent_streams": _("Too many replies at once: at most %(value)s at a time. Try again when one has finished."),
        "requests_per_minute": _("Too many chat requests: at most %(value)s a minute. Try again in %(seconds)s seconds."),
    }
    return messages[refusal.limit] % {"value": value, "reset": reset, "seconds": refusal.wait_seconds}
