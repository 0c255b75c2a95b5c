from __future__ import annotations

import re

from rest_framework import serializers

from chat.models import Message
from luxx.fields import ColorField, StrictCharField, StrictIntegerField, StrictObjectSerializer
from rooms.models import ChatRoom, RoomAgent, RoomStatus

COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


class RoomAgentSerializer(serializers.ModelSerializer):
    room_id = serializers.CharField(read_only=True)
    agent_id = serializers.IntegerField(read_only=True, allow_null=True)
    provider_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = RoomAgent
        fields = ["id", "room_id", "agent_id", "name", "role", "provider_id", "model", "system_prompt", "color", "turn_order"]
        read_only_fields = fields


class RoomSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    agents = RoomAgentSerializer(many=True, read_only=True)

    class Meta:
        model = ChatRoom
        fields = ["id", "user_id", "title", "task", "status", "max_rounds", "current_round", "agents", "created_at", "updated_at"]
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


class RoomCreateInput(StrictObjectSerializer):
    title = StrictCharField(max_length=200)
    task = StrictCharField(max_length=20_000)
    max_rounds = StrictIntegerField(required=False, default=5, min_value=1, max_value=50)
    agents = RoomAgentInput(many=True, allow_empty=False)

    openapi_extra = {"properties": {"agents": {"minItems": 1}}}


class RoomUpdateInput(StrictObjectSerializer):
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


class RoomStopOutput(serializers.Serializer):
    room_id = serializers.CharField()
    status = serializers.CharField()
