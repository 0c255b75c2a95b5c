from __future__ import annotations

from typing import Any

from rest_framework import serializers

from chat.models import Conversation, Message
from files.serializers import AttachmentListField
from luxx.fields import (
    CONVERSATION_ID_PATTERN,
    MESSAGE_ID_PATTERN,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    StrictObjectSerializer,
)


class ConversationSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    provider_id = serializers.IntegerField(read_only=True, allow_null=True)
    agent_id = serializers.IntegerField(read_only=True, allow_null=True)
    enabled_tools = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        allow_null=True,
        help_text=(
            "Addition: the tools chosen for this conversation, used when a message names no enabled_tools; "
            "null until chosen (an agent's chat then uses the agent's tools). A new conversation starts with "
            "the user's last choice, an agent's with the agent's tools."
        ),
    )

    class Meta:
        model = Conversation
        fields = [
            "id",
            "user_id",
            "project_id",
            "provider_id",
            "agent_id",
            "title",
            "model",
            "system_prompt",
            "temperature",
            "max_tokens",
            "thinking_enabled",
            "enabled_tools",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ConversationInput(StrictObjectSerializer):
    project_id = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=100)
    title = StrictCharField(required=False, allow_blank=True, max_length=200)
    model = StrictCharField(required=False, allow_blank=True, max_length=200)
    provider_id = StrictIntegerField(required=False, allow_null=True, min_value=1)
    agent_id = StrictIntegerField(required=False, allow_null=True, min_value=1)
    system_prompt = StrictCharField(required=False, allow_blank=True, max_length=50_000, trim_whitespace=False)
    temperature = StrictFloatField(required=False, min_value=0.0, max_value=2.0)
    max_tokens = StrictIntegerField(required=False, min_value=1, max_value=200_000)
    thinking_enabled = StrictBooleanField(required=False)
    enabled_tools = serializers.ListField(
        child=StrictCharField(max_length=64),
        required=False,
        allow_null=True,
        max_length=50,
        help_text="Addition: the tools chosen for this conversation (names); null: the agent's tools, or none.",
    )


class MessageSerializer(serializers.ModelSerializer):
    conversation_id = serializers.CharField(read_only=True, allow_null=True)
    room_id = serializers.CharField(read_only=True, allow_null=True)
    text = serializers.CharField(source="content", read_only=True)
    attachments = AttachmentListField(read_only=True, help_text="The files sent with a user message (POST /api/files/); [] otherwise.")

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation_id",
            "room_id",
            "role",
            "content",
            "text",
            "attachments",
            "process_steps",
            "citations",
            "token_count",
            "usage",
            "status",
            "error",
            "model",
            "created_at",
        ]
        read_only_fields = fields


class MessageListOutput(serializers.Serializer):
    messages = MessageSerializer(many=True)
    title = serializers.CharField()
    first_message = serializers.CharField(allow_null=True)


class SendMessageInput(StrictObjectSerializer):
    conversation_id = StrictCharField(max_length=24)
    # Either content (a new message) or retry_message_id (regenerate the latest reply).
    openapi_extra = {
        "properties": {"conversation_id": {"pattern": CONVERSATION_ID_PATTERN}, "retry_message_id": {"pattern": MESSAGE_ID_PATTERN}},
        "oneOf": [
            {"anyOf": [{"required": ["content"]}, {"required": ["attachments"]}], "not": {"required": ["retry_message_id"]}},
            {"required": ["retry_message_id"], "not": {"anyOf": [{"required": ["content"]}, {"required": ["attachments"]}]}},
        ],
    }
    content = StrictCharField(
        trim_whitespace=False,
        required=False,
        help_text="The user's message; required unless retry_message_id or attachments are given.",
    )
    attachments = serializers.ListField(
        child=StrictCharField(max_length=24),
        required=False,
        min_length=1,
        max_length=50,
        help_text=(
            "Addition: ids of files uploaded with POST /api/files/ (at most LUXX_MAX_ATTACHMENTS, default 10). Images reach "
            "the model as image content (a model that does not accept images answers 400); documents' text as quoted passages. "
            "A file of another user is 404."
        ),
    )
    thinking_enabled = StrictBooleanField(required=False, allow_null=True)
    enabled_tools = serializers.ListField(child=StrictCharField(max_length=64), required=False, allow_null=True, max_length=50)
    retry_message_id = StrictCharField(
        max_length=24,
        required=False,
        help_text=(
            "Regenerate instead of sending (addition): the id of the conversation's latest assistant reply "
            "(typically one that failed or was stopped). Its user message is reused, not sent again, and the "
            "reply is replaced by the new one. Give either this or content."
        ),
    )

    def validate_attachments(self, value: list[str]) -> list[str]:
        from django.conf import settings

        unique = list(dict.fromkeys(value))
        if len(unique) > settings.LUXX_MAX_ATTACHMENTS:
            raise serializers.ValidationError(f"At most {settings.LUXX_MAX_ATTACHMENTS} attachments per message.")
        return unique

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        has_content = "content" in attrs
        if "retry_message_id" in attrs:
            if has_content:
                raise serializers.ValidationError({"content": ["Give either content or retry_message_id, not both."]})
            if "attachments" in attrs:
                raise serializers.ValidationError({"attachments": ["A regenerated reply reuses its message's attachments: give none."]})
        elif not has_content and "attachments" not in attrs:
            raise serializers.ValidationError({"content": [self.fields["content"].error_messages["required"]]})
        return attrs


class SendMessageOutput(serializers.Serializer):
    user_message = MessageSerializer()
    assistant_message = MessageSerializer()


class StopOutput(serializers.Serializer):
    message_id = serializers.CharField()
    status = serializers.CharField()


# --- v1 dialect ---------------------------------------------------------------------


class V1ConversationInput(StrictObjectSerializer):
    agent_id = StrictIntegerField(min_value=1)
    title = StrictCharField(required=False, allow_blank=True, max_length=200)


class V1ConversationSerializer(serializers.ModelSerializer):
    agent_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Conversation
        fields = ["id", "agent_id", "title", "model", "created_at", "updated_at"]
        read_only_fields = fields


class V1SendInput(StrictObjectSerializer):
    content = StrictCharField(trim_whitespace=False)


class V1MessageSerializer(serializers.ModelSerializer):
    conversation_id = serializers.CharField(read_only=True)

    class Meta:
        model = Message
        fields = ["id", "conversation_id", "role", "content", "status", "token_count", "usage", "citations", "created_at"]
        read_only_fields = fields
