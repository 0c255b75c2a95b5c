"""Django admin: the price table, limits per level and per user, and the ledger with
filters and a CSV export."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from usage.models import LevelLimit, ModelPrice, UsageAccount, UsageRecord
from usage.prices import prices_forget

LIMIT_FIELDS = ("tokens_per_day", "tokens_per_month", "cost_per_day", "cost_per_month", "concurrent_streams", "requests_per_minute")
CSV_COLUMNS = (
    "created_at",
    "user_id",
    "username",
    "provider_id",
    "model",
    "kind",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost",
    "priced",
    "estimated",
    "conversation_id",
    "room_id",
    "message_id",
    "document_id",
)


def _cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula is written as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ("provider", "model", "input_per_million", "output_per_million", "cached_input_per_million", "updated_at")
    list_filter = ("provider",)
    search_fields = ("model",)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        prices_forget()

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        prices_forget()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        super().delete_queryset(request, queryset)
        prices_forget()


@admin.register(LevelLimit)
class LevelLimitAdmin(admin.ModelAdmin):
    list_display = ("permission_level", *LIMIT_FIELDS)


@admin.register(UsageAccount)
class UsageAccountAdmin(admin.ModelAdmin):
    """A user's own limits (empty fields: their level's); the counters are shown only."""

    list_display = ("user", *LIMIT_FIELDS, "active_streams")
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)
    fields = ("user", *LIMIT_FIELDS, "day", "day_tokens", "day_cost_micros", "month", "month_tokens", "month_cost_micros", "active_streams")
    readonly_fields = ("day", "day_tokens", "day_cost_micros", "month", "month_tokens", "month_cost_micros", "active_streams")


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "user",
        "provider",
        "model",
        "kind",
        "prompt_tokens",
        "completion_tokens",
        "cached_tokens",
        "cost",
        "priced",
    )
    list_filter = ("kind", "priced", "estimated", "provider", "model", ("created_at", admin.DateFieldListFilter))
    search_fields = ("user__username", "model", "conversation_id", "room_id")
    date_hierarchy = "created_at"
    list_select_related = ("user", "provider")
    actions = ["export_csv"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Export the selected rows as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[UsageRecord]) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="luxx-usage-{timezone.localdate().isoformat()}.csv"'
        writer = csv.writer(response)
        writer.writerow(CSV_COLUMNS)
        for row in queryset.select_related("user").order_by("created_at", "id").iterator():
            writer.writerow(
                _cell(value)
                for value in [
                    row.created_at.isoformat(),
                    row.user_id,
                    row.user.username,
                    row.provider_id or "",
                    row.model,
                    row.kind,
                    row.prompt_tokens,
                    row.completion_tokens,
                    row.cached_tokens,
                    f"{row.cost:.6f}",
                    row.priced,
                    row.estimated,
                    row.conversation_id or "",
                    row.room_id or "",
                    row.message_id or "",
                    row.document_id or "",
                ]
            )
        return response
