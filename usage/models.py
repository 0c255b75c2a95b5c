"""The usage ledger, the price table, and the limits with their counters.

Costs are kept as whole micro-units of the price table's currency (``cost_micros``), so
sums are exact on every database; prices and cost limits are decimals per million
tokens and per period.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import PermissionLevel

MICROS = Decimal(1_000_000)


class ModelPrice(models.Model):
    """What a provider charges for a model, per million tokens. A model without a row
    costs 0 and its usage rows are flagged ``priced=False``."""

    provider = models.ForeignKey("agents.Provider", on_delete=models.CASCADE, related_name="prices")
    model = models.CharField(max_length=200)
    input_per_million = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(0))
    output_per_million = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(0))
    cached_input_per_million = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, help_text="Input read from the prompt cache; empty: the input price."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider_id", "model"]
        constraints = [models.UniqueConstraint(fields=["provider", "model"], name="usage_modelprice_one_per_model")]

    def __str__(self) -> str:
        return f"{self.model} ({self.provider_id})"


class UsageKind(models.TextChoices):
    CHAT = "chat", "Chat turn"
    TOOL_LOOP = "tool_loop", "Tool-loop call"
    ROOM = "room", "Room turn"
    TITLE = "title", "Title"
    SELECTOR = "selector", "Speaker selection"
    SUMMARY = "summary", "Summary"
    EMBEDDING = "embedding", "Embeddings"


class UsageRecordQuerySet(models.QuerySet["UsageRecord"]):
    def owned_by(self, user: Any) -> UsageRecordQuerySet:
        return self.filter(user=user)


class UsageRecord(models.Model):
    """One model call. The conversation, room, message and document are kept as plain
    ids: the usage stays when what it was for is deleted."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_records")
    provider = models.ForeignKey("agents.Provider", null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_records")
    model = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=16, choices=UsageKind.choices)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    cost_micros = models.BigIntegerField(default=0)
    priced = models.BooleanField(default=True, help_text="False: the model has no price in the price table (cost 0).")
    estimated = models.BooleanField(default=False, help_text="The provider reported no usage (e.g. a stopped reply): Luxx estimated it.")
    conversation_id = models.CharField(max_length=24, null=True, blank=True)
    room_id = models.CharField(max_length=24, null=True, blank=True)
    message_id = models.CharField(max_length=24, null=True, blank=True)
    document_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = UsageRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "created_at"]),
            models.Index(fields=["created_at"]),
            models.Index(fields=["conversation_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.model} {self.total_tokens}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost(self) -> Decimal:
        return Decimal(self.cost_micros) / MICROS


class LimitFields(models.Model):
    """Limits; empty means none. Token and cost limits hold while the period's usage
    (with what turns in progress have reserved) is under them."""

    tokens_per_day = models.PositiveBigIntegerField(null=True, blank=True)
    tokens_per_month = models.PositiveBigIntegerField(null=True, blank=True)
    cost_per_day = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    cost_per_month = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    concurrent_streams = models.PositiveIntegerField(null=True, blank=True)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        abstract = True


LIMIT_NAMES = ("tokens_per_day", "tokens_per_month", "cost_per_day", "cost_per_month", "concurrent_streams", "requests_per_minute")


class LevelLimit(LimitFields):
    """The default limits of every user at a permission level. Admins (level 4) have none
    unless a row for level 4 is made."""

    permission_level = models.PositiveSmallIntegerField(choices=PermissionLevel.choices, unique=True)

    class Meta:
        ordering = ["permission_level"]

    def __str__(self) -> str:
        return f"Level {self.permission_level}"


class UsageAccount(LimitFields):
    """A user's own limits (empty: the level's) and the counters the limits are checked
    against, in one row so that one conditional UPDATE admits a turn atomically."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="usage_account")
    day = models.DateField(null=True, blank=True)
    day_tokens = models.BigIntegerField(default=0)
    day_cost_micros = models.BigIntegerField(default=0)
    month = models.DateField(null=True, blank=True)
    month_tokens = models.BigIntegerField(default=0)
    month_cost_micros = models.BigIntegerField(default=0)
    minute = models.BigIntegerField(default=0, help_text="Minutes since the epoch of the request counter's window.")
    minute_requests = models.PositiveIntegerField(default=0)
    active_streams = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "user limits"
        verbose_name_plural = "user limits"

    def __str__(self) -> str:
        return f"Limits of user {self.user_id}"
