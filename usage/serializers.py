"""Input and output shapes of the usage endpoints."""

from __future__ import annotations

from decimal import ROUND_UP, Decimal
from typing import Any

from rest_framework import serializers

from luxx.fields import CONVERSATION_ID_PATTERN, StrictFloatField, StrictIntegerField, StrictObjectSerializer


class UsageQuery(serializers.Serializer):
    period = serializers.ChoiceField(choices=["day", "month"], default="day", required=False)
    # "from" is a keyword: the field is named in __init__.
    to = serializers.DateField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from"] = serializers.DateField(required=False)

    def to_internal_value(self, data: Any) -> Any:
        # A parameter given but empty (``?to=``) is a wrong value, not an absent one (DRF
        # takes an empty form value as absent; the schema's formats say otherwise).
        names: list[str] = list(self.fields)
        blank = [name for name in names if hasattr(data, "get") and data.get(name) == ""]
        if blank:
            raise serializers.ValidationError({name: ["This field may not be blank."] for name in blank})
        return super().to_internal_value(data)


class OwnUsageQuery(UsageQuery):
    conversation_id = serializers.RegexField(CONVERSATION_ID_PATTERN, required=False)


class TotalsSerializer(serializers.Serializer):
    calls = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cached_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = serializers.FloatField(help_text="In the price table's currency (`currency`).")
    unpriced_calls = serializers.IntegerField(help_text="Calls of models without a price (counted at cost 0).")


class SeriesPointSerializer(TotalsSerializer):
    date = serializers.DateField(help_text="The day, or the first day of the month.")


class ModelUsageSerializer(TotalsSerializer):
    provider_id = serializers.IntegerField(allow_null=True)
    provider_name = serializers.CharField(allow_null=True)
    model = serializers.CharField(allow_blank=True)


class ProviderUsageSerializer(TotalsSerializer):
    provider_id = serializers.IntegerField(allow_null=True)
    provider_name = serializers.CharField(allow_null=True)


class UserUsageSerializer(TotalsSerializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()


class LimitSerializer(serializers.Serializer):
    name = serializers.ChoiceField(
        choices=["tokens_per_day", "tokens_per_month", "cost_per_day", "cost_per_month", "concurrent_streams", "requests_per_minute"]
    )
    value = serializers.FloatField()
    used = serializers.FloatField(help_text="Tokens and cost include what replies in progress have reserved.")
    resets_at = serializers.DateTimeField(allow_null=True)


class _WindowSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=["day", "month"])
    to = serializers.DateField(allow_null=True)
    currency = serializers.CharField()
    totals = TotalsSerializer()
    series = SeriesPointSerializer(many=True)
    models = ModelUsageSerializer(many=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from"] = serializers.DateField(allow_null=True)


class UsageOutput(_WindowSerializer):
    limits = LimitSerializer(many=True, help_text="The limits that apply to the caller (none: no limits).")


class AdminUsageOutput(_WindowSerializer):
    users = UserUsageSerializer(many=True)
    providers = ProviderUsageSerializer(many=True)


_TOKENS_MAX = 9_223_372_036_854_775_807  # a PostgreSQL bigint
_COUNT_MAX = 2_147_483_647  # a PostgreSQL integer
_COST_MAX = Decimal("99999999.9999")  # the column's 12 digits, 4 after the point


class CostLimitField(StrictFloatField):
    """A cost limit: a JSON number, kept as a Decimal rounded up to the column's 4 decimal
    places (up, so that a small limit never becomes 0, which refuses every call)."""

    default_error_messages = {"negative": "Must be 0 or more.", "too_large": f"Must be at most {_COST_MAX}."}

    def to_internal_value(self, data: Any) -> Any:
        super().to_internal_value(data)  # a number
        value = Decimal(str(data))
        if value < 0:
            self.fail("negative")
        if value > _COST_MAX:
            self.fail("too_large")
        return value.quantize(Decimal("0.0001"), rounding=ROUND_UP)


COST_HELP = "In the price table's currency, rounded up to 4 decimal places."


class UserLimitsInput(StrictObjectSerializer):
    """A user's own limits: each one given is set (null: the level's default); the others
    are kept."""

    tokens_per_day = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=_TOKENS_MAX)
    tokens_per_month = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=_TOKENS_MAX)
    cost_per_day = CostLimitField(required=False, allow_null=True, help_text=COST_HELP)
    cost_per_month = CostLimitField(required=False, allow_null=True, help_text=COST_HELP)
    concurrent_streams = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=_COUNT_MAX)
    requests_per_minute = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=_COUNT_MAX)

    openapi_body_required = True
    openapi_extra = {
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {name: {"minimum": 0, "maximum": float(_COST_MAX)} for name in ("cost_per_day", "cost_per_month")},
    }

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                known = ", ".join(self.fields)
                raise serializers.ValidationError({name: [f"Unknown limit; the limits are {known}."] for name in unknown})
            if not data:
                raise serializers.ValidationError({"non_field_errors": ["Name at least one limit to set."]})
        return super().to_internal_value(data)


class LimitValuesSerializer(serializers.Serializer):
    tokens_per_day = serializers.IntegerField(allow_null=True)
    tokens_per_month = serializers.IntegerField(allow_null=True)
    cost_per_day = serializers.FloatField(allow_null=True)
    cost_per_month = serializers.FloatField(allow_null=True)
    concurrent_streams = serializers.IntegerField(allow_null=True)
    requests_per_minute = serializers.IntegerField(allow_null=True)


class UserLimitsOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    permission_level = serializers.IntegerField()
    currency = serializers.CharField()
    own = LimitValuesSerializer(help_text="The user's own limits; null: their level's default.")
    level = LimitValuesSerializer(help_text="The defaults of the user's permission level; null: none.")
    effective = LimitValuesSerializer(help_text="The limits that apply: the user's own, else the level's; null: no limit.")
