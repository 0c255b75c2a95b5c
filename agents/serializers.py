from __future__ import annotations

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.models import Agent, Provider, ProviderType
from agents.services import provider_kind
from agents.urlcheck import BASE_URL_PATTERN
from luxx.fields import (
    ColorField,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    StrictObjectSerializer,
)

COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


class ProviderSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True, allow_null=True)
    has_api_key = serializers.BooleanField(read_only=True)
    is_shared = serializers.BooleanField(read_only=True)

    class Meta:
        model = Provider
        fields = [
            "id",
            "user_id",
            "name",
            "provider_type",
            "base_url",
            "api_version",
            "default_model",
            "max_tokens",
            "context_window",
            "is_default",
            "enabled",
            "has_api_key",
            "is_shared",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ProviderListOutput(serializers.Serializer):
    providers = ProviderSerializer(many=True)
    total = serializers.IntegerField()


class ProviderInput(StrictObjectSerializer):
    name = StrictCharField(max_length=100)
    provider_type = serializers.ChoiceField(choices=ProviderType.choices, default=ProviderType.OPENAI)
    base_url = StrictCharField(
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="Empty or omitted: the type's public endpoint (Azure needs its resource's endpoint).",
    )
    api_key = StrictCharField(max_length=500, required=False, allow_blank=True, write_only=True, trim_whitespace=True)
    api_version = StrictCharField(max_length=32, required=False, allow_blank=True)
    default_model = StrictCharField(max_length=200, required=False, allow_blank=True)
    max_tokens = StrictIntegerField(min_value=1, max_value=1_000_000, required=False)
    context_window = StrictIntegerField(min_value=256, max_value=10_000_000, required=False)
    is_default = StrictBooleanField(required=False)
    enabled = StrictBooleanField(required=False)

    # Azure OpenAI needs its resource's endpoint and an API version.
    openapi_extra: dict | None = {
        "properties": {"base_url": {"pattern": f"^$|{BASE_URL_PATTERN}"}},
        "anyOf": [
            {"properties": {"provider_type": {"enum": [ProviderType.OPENAI.value, ProviderType.ANTHROPIC.value]}}},
            {
                "required": ["provider_type", "base_url", "api_version"],
                "properties": {
                    "provider_type": {"enum": [ProviderType.AZURE.value]},
                    "base_url": {"minLength": 1},
                    "api_version": {"minLength": 1},
                },
            },
        ],
    }


class ProviderUpdateInput(ProviderInput):
    """An update: only the given fields change, and a base URL given is a real one."""

    openapi_extra = {"properties": {"base_url": {"pattern": BASE_URL_PATTERN}}}


class ProviderTestOutput(serializers.Serializer):
    status_code = serializers.IntegerField()
    success = serializers.BooleanField()
    response_body = serializers.CharField()
    model = serializers.CharField(help_text="The model the test asked (the provider's default model); empty when it has none.")
    latency_ms = serializers.IntegerField(help_text="How long the request took, in milliseconds.")
    summary = serializers.CharField(
        help_text="The outcome in plain words, in the caller's language: 'Connected: fake-model replied in 120 ms' or 'Failed: …'."
    )


class AgentSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    provider_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Agent
        fields = [
            "id",
            "user_id",
            "name",
            "role",
            "description",
            "provider_id",
            "model",
            "system_prompt",
            "color",
            "temperature",
            "max_tokens",
            "enabled_tools",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AgentInput(StrictObjectSerializer):
    name = StrictCharField(max_length=100)
    role = StrictCharField(max_length=500, required=False, allow_blank=True)
    description = StrictCharField(max_length=5000, required=False, allow_blank=True)
    provider_id = StrictIntegerField(required=False, allow_null=True, min_value=1)
    model = StrictCharField(max_length=200, required=False, allow_blank=True)
    system_prompt = StrictCharField(max_length=50_000, required=False, allow_blank=True, trim_whitespace=False)
    color = ColorField(required=False)
    temperature = StrictFloatField(min_value=0.0, max_value=2.0, required=False)
    max_tokens = StrictIntegerField(min_value=1, max_value=200_000, required=False)
    enabled_tools = serializers.ListField(child=StrictCharField(max_length=64), required=False, max_length=50)

    def validate_color(self, value: str) -> str:
        if not COLOR.match(value):
            raise serializers.ValidationError("Use a colour like #10b981 or #fff.")
        return value


# --- v1 dialect ---------------------------------------------------------------------


class V1ModelConfigInput(StrictObjectSerializer):
    provider = serializers.ChoiceField(choices=["openai", "azure", "local"])
    model_name = StrictCharField(max_length=200)
    temperature = StrictFloatField(min_value=0.0, max_value=2.0, required=False, default=0.7)
    max_tokens = StrictIntegerField(min_value=1, max_value=200_000, required=False, default=2048)


class V1AgentInput(StrictObjectSerializer):
    name = StrictCharField(max_length=100)
    description = StrictCharField(max_length=5000, required=False, allow_blank=True)
    prompt_template = StrictCharField(max_length=50_000, trim_whitespace=False)
    model_config = V1ModelConfigInput()


class V1ModelConfig(serializers.Serializer):
    provider = serializers.CharField(allow_null=True)
    model_name = serializers.CharField()
    temperature = serializers.FloatField()
    max_tokens = serializers.IntegerField()


class V1AgentSerializer(serializers.ModelSerializer):
    prompt_template = serializers.CharField(source="system_prompt", read_only=True)
    model_config = serializers.SerializerMethodField()

    class Meta:
        model = Agent
        fields = ["id", "name", "description", "prompt_template", "model_config", "created_at", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(V1ModelConfig)
    def get_model_config(self, agent: Agent) -> dict:
        return V1ModelConfig(
            {
                # As the client wrote it ("openai" for a vLLM on this machine, say).
                "provider": (agent.provider_kind or provider_kind(agent.provider)) if agent.provider_id else None,
                "model_name": agent.model,
                "temperature": agent.temperature,
                "max_tokens": agent.max_tokens,
            }
        ).data
