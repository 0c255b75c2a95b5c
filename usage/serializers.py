"""Input and output shapes of the usage endpoints."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from luxx.fields import CONVERSATION_ID_PATTERN


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
