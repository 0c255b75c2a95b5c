from __future__ import annotations

import re
from typing import Any, cast

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
    selector_provider_id = serializers.IntegerField(read_only=True, allow_null=True)
    selector_model = _BlankAsNull(read_only=True, allow_null=True)
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
            "selector_provider_id",
            "selector_model",
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

    # A seat comes from a template (agent_id) or is inline with a name (services._seat_fields()).
    openapi_extra = {"anyOf": [{"required": ["name"]}, {"required": ["agent_id"], "properties": {"agent_id": {"type": "integer"}}}]}
    openapi_body_required = True


# The bounds of each termination condition's ``value``: (kind, minimum, maximum).
CONDITION_VALUES: dict[str, tuple[type, int, int]] = {
    "max_rounds": (int, 1, 50),
    "max_messages": (int, 1, 10_000),
    "token_budget": (int, 1, 100_000_000),
    "timeout_seconds": (float, 1, 86_400),
}
MENTION_MAX = 200


def _condition_schema(kind: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["type", "value"], "properties": {"type": {"type": "string", "enum": [kind]}, "value": value}}


_SIMPLE_CONDITIONS = [
    *(
        _condition_schema(kind, {"type": "integer" if number is int else "number", "minimum": low, "maximum": high})
        for kind, (number, low, high) in CONDITION_VALUES.items()
    ),
    _condition_schema("text_mention", {"type": "string", "minLength": 1, "maxLength": MENTION_MAX, "pattern": r"\S"}),
]
TERMINATION_SCHEMA: dict[str, Any] = {
    "type": "array",
    "description": "Conditions, any of which ends the run: `{type, value}` (max_rounds, max_messages, token_budget: a "
    "positive integer; timeout_seconds: seconds; text_mention: the phrase, case-sensitive), or `{type: all, conditions}`, "
    "which fires when all of its conditions hold.",
    "items": {
        "oneOf": [
            *_SIMPLE_CONDITIONS,
            {
                "type": "object",
                "required": ["type", "conditions"],
                "properties": {
                    "type": {"type": "string", "enum": ["all"]},
                    "conditions": {"type": "array", "minItems": 1, "items": {"oneOf": _SIMPLE_CONDITIONS}},
                },
            },
        ]
    },
}


def termination_condition(data: Any, *, inner: bool = False) -> dict[str, Any]:
    """One condition that ends a run, checked: ``{"type": "max_messages", "value": 8}``,
    ``{"type": "text_mention", "value": "APPROVED"}``, or ``{"type": "all", "conditions": [...]}``
    (not inside another ``all``). Raises a ValidationError naming the part at fault."""
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": ["A condition is an object with a type."]})
    kind = data.get("type")
    allowed = [k for k in CONDITION_TYPES if not (inner and k == "all")]
    if not isinstance(kind, str) or kind not in allowed:
        raise serializers.ValidationError({"type": [f"Use one of: {', '.join(allowed)}."]})
    if kind == "all":
        items = data.get("conditions")
        if not isinstance(items, list) or not items:
            raise serializers.ValidationError({"conditions": ["List the conditions that must all hold."]})
        inner_conditions = []
        for index, item in enumerate(items):
            try:
                inner_conditions.append(termination_condition(item, inner=True))
            except serializers.ValidationError as error:
                raise serializers.ValidationError({f"conditions[{index}]": error.detail}) from error
        return {"type": "all", "conditions": inner_conditions}
    value = data.get("value")
    if kind == "text_mention":
        if not isinstance(value, str) or not value.strip() or len(value) > MENTION_MAX:
            raise serializers.ValidationError({"value": [f"Give the phrase that ends the run (1 to {MENTION_MAX} characters)."]})
        return {"type": kind, "value": value}
    number, low, high = CONDITION_VALUES[kind]
    if number is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    valid = isinstance(value, int) if number is int else isinstance(value, (int, float))
    if isinstance(value, bool) or not valid or not low <= cast(float, value) <= high:  # no float(): a huge int overflows it
        kind_text = "an integer" if number is int else "a number"
        raise serializers.ValidationError({"value": [f"Must be {kind_text} from {low} to {high}."]})
    return {"type": kind, "value": value}


@extend_schema_field(TERMINATION_SCHEMA)
class TerminationField(serializers.ListField):
    """A list of termination conditions; errors name the condition (``termination[1].value``)."""

    child = serializers.JSONField()

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        items = super().to_internal_value(data)
        cleaned: list[dict[str, Any]] = []
        errors: list[Any] = []
        for item in items:
            try:
                cleaned.append(termination_condition(item))
                errors.append({})
            except serializers.ValidationError as error:
                errors.append(error.detail)
        if any(errors):
            raise serializers.ValidationError(errors)
        return cleaned


AGENT_NAME = "The name of an agent of the room."


class _TeamInput(StrictObjectSerializer):
    """How a room works as a team; every field optional (see rooms.team)."""

    speaker_policy = serializers.ChoiceField(choices=SpeakerPolicy.choices, required=False)
    allow_repeated_speaker = StrictBooleanField(required=False)
    selector_provider_id = StrictIntegerField(
        required=False, allow_null=True, min_value=1, help_text="The selector model's provider (default: the first agent's)."
    )
    selector_model = StrictCharField(
        required=False, allow_blank=True, max_length=200, help_text="The selector's model (default: the first agent's)."
    )
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
