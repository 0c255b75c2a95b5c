from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chat.models import Message
from luxx.fields import ColorField, StrictBooleanField, StrictCharField, StrictIntegerField, StrictObjectSerializer
from rooms.models import ChatRoom, HumanTurn, RoomAgent, RoomStatus, SpeakerPolicy
from rooms.team import CONDITION_TYPES

COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


class RoomAgentSerializer(serializers.ModelSerializer):
    room_id = serializers.CharField(read_only=True)
    agent_id = serializers.IntegerField(read_only=True, allow_null=True)
    provider_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = RoomAgent
        fields = ["id", "room_id", "agent_id", "name", "role", "provider_id", "model", "system_prompt", "color", "turn_order"]
        read_only_fields = fields


class _BlankAsNull(serializers.CharField):
    def to_representation(self, value: Any) -> Any:
        return value or None


class RoomSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    agents = RoomAgentSerializer(many=True, read_only=True)
    moderator = _BlankAsNull(read_only=True, allow_null=True, help_text="The moderating agent's name (policy moderator).")
    summarizer = _BlankAsNull(read_only=True, allow_null=True, help_text="The name of the agent that writes the closing summary.")
    termination = serializers.ListField(child=serializers.DictField(), read_only=True)
    end_reason = _BlankAsNull(read_only=True, allow_null=True, help_text="The condition that ended the last run.")
    summary_message_id = _BlankAsNull(read_only=True, allow_null=True, help_text="The closing summary (or the moderator's conclusion).")

    class Meta:
        model = ChatRoom
        fields = [
            "id",
            "user_id",
            "title",
            "task",
            "status",
            "max_rounds",
            "current_round",
            "agents",
            "speaker_policy",
            "allow_repeated_speaker",
            "moderator",
            "termination",
            "summarizer",
            "human_turn",
            "end_reason",
            "summary_message_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RoomDetailSerializer(RoomSerializer):
    message_count = serializers.IntegerField(read_only=True)

    class Meta(RoomSerializer.Meta):
        fields = [*RoomSerializer.Meta.fields, "message_count"]
        read_only_fields = fields


class _ColorMixin:
    def validate_color(self, value: str) -> str:
        if not COLOR.match(value):
            raise serializers.ValidationError("Use a colour like #10b981 or #fff.")
        return value


class RoomAgentInput(_ColorMixin, StrictObjectSerializer):
    agent_id = StrictIntegerField(required=False, allow_null=True, min_value=1)
    name = StrictCharField(required=False, max_length=100)
    role = StrictCharField(required=False, allow_blank=True, max_length=500)
    provider_id = StrictIntegerField(required=False, allow_null=True, min_value=1)
    model = StrictCharField(required=False, allow_blank=True, max_length=200)
    system_prompt = StrictCharField(required=False, allow_blank=True, max_length=50_000, trim_whitespace=False)
    color = ColorField(required=False)


# The bounds of each termination condition's ``value``: (kind, minimum, maximum).
CONDITION_VALUES: dict[str, tuple[type, float, float]] = {
    "max_rounds": (int, 1, 50),
    "max_messages": (int, 1, 10_000),
    "token_budget": (int, 1, 100_000_000),
    "timeout_seconds": (float, 1, 86_400),
}


class TerminationConditionInput(StrictObjectSerializer):
    """One condition that ends a run: ``{"type": "max_messages", "value": 8}``,
    ``{"type": "text_mention", "value": "APPROVED"}``, or ``{"type": "all", "conditions": [...]}``
    (fires when every one of its conditions does)."""

    type = serializers.ChoiceField(choices=CONDITION_TYPES)
    value = serializers.JSONField(
        required=False,
        help_text="max_rounds, max_messages, token_budget: a positive integer; timeout_seconds: a positive number; "
        "text_mention: the phrase (case-sensitive).",
    )
    conditions = serializers.ListField(child=serializers.JSONField(), required=False, help_text="For type all: the conditions.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs["type"]
        if kind == "all":
            items = attrs.get("conditions") or []
            if not items:
                raise serializers.ValidationError({"conditions": ["List the conditions that must all hold."]})
            inner = []
            for index, item in enumerate(items):
                serializer = TerminationConditionInput(data=item)
                if not serializer.is_valid():
                    raise serializers.ValidationError({f"conditions[{index}]": serializer.errors})
                if serializer.validated_data["type"] == "all":
                    raise serializers.ValidationError({f"conditions[{index}].type": ["An all condition cannot contain another."]})
                inner.append(dict(serializer.validated_data))
            return {"type": "all", "conditions": inner}
        value = attrs.get("value")
        if kind == "text_mention":
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                raise serializers.ValidationError({"value": ["Give the phrase that ends the run (1 to 200 characters)."]})
            return {"type": kind, "value": value}
        number, low, high = CONDITION_VALUES[kind]
        valid_type = isinstance(value, int) if number is int else isinstance(value, (int, float))
        if isinstance(value, bool) or not valid_type or not low <= float(value) <= high:  # type: ignore[arg-type]
            kind_text = "an integer" if number is int else "a number"
            raise serializers.ValidationError({"value": [f"Must be {kind_text} from {low:g} to {high:g}."]})
        return {"type": kind, "value": value}


@extend_schema_field(TerminationConditionInput(many=True))
class TerminationField(serializers.ListField):
    """A list of termination conditions; errors name the condition (``termination[1].value``)."""

    child = serializers.JSONField()

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        items = super().to_internal_value(data)
        cleaned: list[dict[str, Any]] = []
        errors: list[Any] = []
        for item in items:
            serializer = TerminationConditionInput(data=item)
            if serializer.is_valid():
                cleaned.append(dict(serializer.validated_data))
                errors.append({})
            else:
                errors.append(serializer.errors)
        if any(errors):
            raise serializers.ValidationError(errors)
        return cleaned


AGENT_NAME = "The name of an agent of the room."


class _TeamInput(StrictObjectSerializer):
    """How a room works as a team; every field optional (see rooms.team)."""

    speaker_policy = serializers.ChoiceField(choices=SpeakerPolicy.choices, required=False)
    allow_repeated_speaker = StrictBooleanField(required=False)
    moderator = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=100, help_text=AGENT_NAME)
    termination = TerminationField(required=False, help_text="Conditions, any of which ends the run.")
    summarizer = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=100, help_text=AGENT_NAME)
    human_turn = serializers.ChoiceField(choices=HumanTurn.choices, required=False)


class RoomCreateInput(_TeamInput):
    title = StrictCharField(max_length=200)
    task = StrictCharField(max_length=20_000)
    max_rounds = StrictIntegerField(required=False, default=5, min_value=1, max_value=50)
    agents = RoomAgentInput(many=True, allow_empty=False)

    openapi_extra = {"properties": {"agents": {"minItems": 1}}}


class RoomUpdateInput(_TeamInput):
    title = StrictCharField(required=False, max_length=200)
    task = StrictCharField(required=False, max_length=20_000)
    max_rounds = StrictIntegerField(required=False, min_value=1, max_value=50)
    status = serializers.ChoiceField(required=False, choices=RoomStatus.choices)

    # A room starts with POST /start, never by setting its status (services.room_update()).
    # Said at the object level: drf-spectacular turns a property's enum into the shared one.
    openapi_extra = {"not": {"required": ["status"], "properties": {"status": {"enum": [RoomStatus.RUNNING.value]}}}}


class RoomAgentUpdateInput(_ColorMixin, StrictObjectSerializer):
    name = StrictCharField(required=False, max_length=100)
    role = StrictCharField(required=False, allow_blank=True, max_length=500)
    model = StrictCharField(required=False, allow_blank=True, max_length=200)
    system_prompt = StrictCharField(required=False, allow_blank=True, max_length=50_000, trim_whitespace=False)
    color = ColorField(required=False)
    turn_order = StrictIntegerField(required=False, min_value=0, max_value=1000)


class RoomMessageSerializer(serializers.ModelSerializer):
    room_id = serializers.CharField(read_only=True)
    text = serializers.CharField(source="content", read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "room_id",
            "role",
            "content",
            "text",
            "process_steps",
            "sender_name",
            "sender_color",
            "round_number",
            "status",
            "error",
            "created_at",
        ]
        read_only_fields = fields


class RoomMessagesOutput(serializers.Serializer):
    messages = RoomMessageSerializer(many=True)
    room = RoomDetailSerializer()


class RoomHumanMessageInput(StrictObjectSerializer):
    content = StrictCharField(max_length=20_000)


class RoomStopOutput(serializers.Serializer):
    room_id = serializers.CharField()
    status = serializers.CharField()
