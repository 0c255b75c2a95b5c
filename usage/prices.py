"""Prices per provider and model, kept in memory for LUXX_PRICE_CACHE_SECONDS: a turn's
set-up and its final write price calls without a query of their own. A price edited in
Django admin applies at once in that process and within that many seconds in the others."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings


@dataclass(frozen=True, slots=True)
class Price:
    input: Decimal
    output: Decimal
    cached_input: Decimal


_lock = threading.Lock()
_table: dict[tuple[int, str], Price] = {}
_loaded_at: float | None = None


def prices_forget() -> None:
    """Drop the cached table (after a price was saved)."""
    global _loaded_at
    with _lock:
        _loaded_at = None


def _prices() -> dict[tuple[int, str], Price]:
    global _table, _loaded_at
    ttl = float(settings.LUXX_PRICE_CACHE_SECONDS)
    with _lock:
        if _loaded_at is not None and time.monotonic() - _loaded_at < ttl:
            return _table
    from usage.models import ModelPrice

    table = {
        (row.provider_id, row.model): Price(
            row.input_per_million,
            row.output_per_million,
            row.input_per_million if row.cached_input_per_million is None else row.cached_input_per_million,
        )
        for row in ModelPrice.objects.all()
    }
    with _lock:
        _table, _loaded_at = table, time.monotonic()
    return table


def price_for(provider_id: int | None, model: str) -> Price | None:
    if provider_id is None:
        return None
    return _prices().get((provider_id, model))


def cost_micros(price: Price | None, *, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> int:
    """The cost in micro-units: a price per million tokens is a price in micro-units per token."""
    if price is None:
        return 0
    cached = min(cached_tokens, prompt_tokens)
    total = (prompt_tokens - cached) * price.input + cached * price.cached_input + completion_tokens * price.output
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))
