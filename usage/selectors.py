"""Reads of the ledger: totals, a series per day or month, and breakdowns, scoped to the
caller (or, for admins, across users) in one place each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth
from django.utils import timezone

from usage.limits import effective_limits, period_resets
from usage.models import LIMIT_NAMES, MICROS, LevelLimit, UsageAccount, UsageRecord

PERIODS = ("day", "month")


@dataclass(frozen=True, slots=True)
class UsageWindow:
    period: str
    start: date | None
    end: date | None


def default_window(period: str, *, start: date | None, end: date | None, open_ended: bool = False) -> UsageWindow:
    """The dates asked for, or the last 30 days (by day) or 12 months (by month)."""
    if open_ended and start is None and end is None:
        return UsageWindow(period, None, None)
    today = timezone.localdate()
    end = end or today
    if start is None:
        try:
            start = end - timedelta(days=29) if period == "day" else (end.replace(day=1) - timedelta(days=335)).replace(day=1)
        except OverflowError:  # an end in year 1
            start = date.min
    return UsageWindow(period, start, end)


def _aware(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def _within(records: QuerySet[UsageRecord], window: UsageWindow) -> QuerySet[UsageRecord]:
    if window.start is not None:
        records = records.filter(created_at__gte=_aware(window.start))
    if window.end is not None and window.end < date.max:
        records = records.filter(created_at__lt=_aware(window.end + timedelta(days=1)))
    return records


_SUMS = {
    "calls": Count("id"),
    "prompt_tokens": Sum("prompt_tokens"),
    "completion_tokens": Sum("completion_tokens"),
    "cached_tokens": Sum("cached_tokens"),
    "cost_micros": Sum("cost_micros"),
    "unpriced_calls": Count("id", filter=Q(priced=False)),
}


def _totals(row: dict[str, Any]) -> dict[str, Any]:
    prompt, completion = int(row.get("prompt_tokens") or 0), int(row.get("completion_tokens") or 0)
    return {
        "calls": int(row.get("calls") or 0),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cached_tokens": int(row.get("cached_tokens") or 0),
        "total_tokens": prompt + completion,
        "cost": money(int(row.get("cost_micros") or 0)),
        "unpriced_calls": int(row.get("unpriced_calls") or 0),
    }


def money(micros: int) -> float:
    return float(Decimal(micros) / MICROS)


def _summary(records: QuerySet[UsageRecord], window: UsageWindow, groups: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    records = _within(records, window)
    trunc = TruncDay("created_at") if window.period == "day" else TruncMonth("created_at")
    series = []
    for row in records.annotate(bucket=trunc).values("bucket").annotate(**_SUMS).order_by("bucket"):
        bucket = row["bucket"]
        day = timezone.localtime(bucket).date() if isinstance(bucket, datetime) else bucket
        series.append({"date": day.isoformat(), **_totals(dict(row))})
    result: dict[str, Any] = {
        "period": window.period,
        "from": window.start.isoformat() if window.start else None,
        "to": window.end.isoformat() if window.end else None,
        "totals": _totals(records.aggregate(**_SUMS)),
        "series": series,
    }
    for name, fields in groups.items():
        rows = records.values(*fields).annotate(**_SUMS).order_by(*fields)
        result[name] = [{**{_rename(f): row[f] for f in fields}, **_totals(row)} for row in rows]
    return result


def _rename(field: str) -> str:
    return {"provider__name": "provider_name", "user__username": "username"}.get(field, field)


def usage_summary(*, user: Any, window: UsageWindow, conversation_id: str | None = None) -> dict[str, Any]:
    """The caller's own usage: totals, a series per day or month, and per model."""
    records = UsageRecord.objects.owned_by(user)
    if conversation_id is not None:
        records = records.filter(conversation_id=conversation_id)
    return _summary(records, window, {"models": ("provider_id", "provider__name", "model")})


def usage_summary_all(*, window: UsageWindow) -> dict[str, Any]:
    """Every user's usage (admins): per user, per model, per provider."""
    return _summary(
        UsageRecord.objects.all(),
        window,
        {
            "users": ("user_id", "user__username"),
            "models": ("provider_id", "provider__name", "model"),
            "providers": ("provider_id", "provider__name"),
        },
    )


def limits_for(*, user: Any) -> list[dict[str, Any]]:
    """The caller's limits that apply, each with what is used of it and when it resets."""
    account = UsageAccount.objects.filter(user=user).first()
    limits = effective_limits(account, LevelLimit.objects.filter(permission_level=user.permission_level).first())
    now = timezone.now()
    resets = period_resets(now)
    today = timezone.localdate(now)
    month = today.replace(day=1)
    minute = int(now.timestamp() // 60)
    same_day = account is not None and account.day == today
    same_month = account is not None and account.month == month
    used: dict[str, Any] = {
        "tokens_per_day": account.day_tokens if same_day and account else 0,
        "tokens_per_month": account.month_tokens if same_month and account else 0,
        "cost_per_day": money(account.day_cost_micros) if same_day and account else 0.0,
        "cost_per_month": money(account.month_cost_micros) if same_month and account else 0.0,
        "concurrent_streams": account.active_streams if account else 0,
        "requests_per_minute": account.minute_requests if account and account.minute == minute else 0,
    }
    reset_of: dict[str, datetime | None] = {
        "tokens_per_day": resets["day"],
        "tokens_per_month": resets["month"],
        "cost_per_day": resets["day"],
        "cost_per_month": resets["month"],
        "concurrent_streams": None,
        "requests_per_minute": resets["minute"],
    }
    out = []
    for name in LIMIT_NAMES:
        value, resets_at = limits[name], reset_of[name]
        if value is None:
            continue
        out.append(
            {
                "name": name,
                "value": float(value) if isinstance(value, Decimal) else int(value),
                "used": used[name],
                "resets_at": resets_at.isoformat() if resets_at is not None else None,
            }
        )
    return out


def limits_of(*, user: Any) -> dict[str, Any]:
    """A user's own limits, their level's defaults and the limits that apply (each a dict
    of every limit, None when not set), for an admin to see and change."""
    account = UsageAccount.objects.filter(user=user).first()
    level = LevelLimit.objects.filter(permission_level=user.permission_level).first()
    return {
        "user_id": user.pk,
        "permission_level": user.permission_level,
        "own": {name: getattr(account, name) if account else None for name in LIMIT_NAMES},
        "level": {name: getattr(level, name) if level else None for name in LIMIT_NAMES},
        "effective": effective_limits(account, level),
    }
