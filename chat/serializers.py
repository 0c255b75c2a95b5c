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
    current_leaf_id = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="Addition: the last message of the branch shown and continued (null before the first message).",
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
            "current_leaf_id",
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


class ConversationUpdateInput(ConversationInput):
    """PUT: the fields of a new conversation, and the branch shown."""

    current_leaf_id = StrictCharField(
        required=False,
        max_length=24,
        help_text=(
            "Addition (on PUT): switch branches. Any message of the conversation; the end of the most recently "
            "active branch below it becomes the current leaf."
        ),
    )
    openapi_extra = {"properties": {"current_leaf_id": {"pattern": MESSAGE_ID_PATTERN}}}


class MessageSerializer(serializers.ModelSerializer):
    conversation_id = serializers.CharField(read_only=True, allow_null=True)
    room_id = serializers.CharField(read_only=True, allow_null=True)
    parent_id = serializers.CharField(
        read_only=True, allow_null=True, help_text="Addition: the message this one follows in the tree (null for a first message)."
    )
    text = serializers.CharField(source="content", read_only=True)
    attachments = AttachmentListField(read_only=True, help_text="The files sent with a user message (POST /api/files/); [] otherwise.")

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation_id",
            "room_id",
            "parent_id",
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


class MessageListItemSerializer(MessageSerializer):
    """A message of a listing, with its siblings (``context["sibling_ids"]``: id -> ids)."""

    sibling_ids = serializers.SerializerMethodField(
        help_text="Addition: the ids of the messages with the same parent (itself included), in creation order."
    )

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "sibling_ids"]
        read_only_fields = fields

    def get_sibling_ids(self, message: Message) -> list[str]:
        return list(self.context.get("sibling_ids", {}).get(message.pk, [message.pk]))


class MessageListOutput(serializers.Serializer):
    messages = MessageListItemSerializer(many=True)
    title = serializers.CharField()
    first_message = serializers.CharField(allow_null=True)


class SendMessageInput(StrictObjectSerializer):
    conversation_id = StrictCharField(max_length=24)
    # Exactly one of content (a new message, optionally under parent_id), retry_message_id
    # (regenerate the latest reply) and regenerate_message_id (a new sibling reply).
    openapi_extra = {
        "properties": {
            "conversation_id": {"pattern": CONVERSATION_ID_PATTERN},
            "retry_message_id": {"pattern": MESSAGE_ID_PATTERN},
            "regenerate_message_id": {"pattern": MESSAGE_ID_PATTERN},
            "parent_id": {"pattern": MESSAGE_ID_PATTERN},
        },
        "oneOf": [
            {
                "anyOf": [{"required": ["content"]}, {"required": ["attachments"]}],
                "not": {"anyOf": [{"required": ["retry_message_id"]}, {"required": ["regenerate_message_id"]}]},
            },
            {
                "required": ["retry_message_id"],
                "not": {
                    "anyOf": [
                        {"required": ["content"]},
                        {"required": ["attachments"]},
                        {"required": ["regenerate_message_id"]},
                        {"required": ["parent_id"]},
                    ]
                },
            },
            {
                "required": ["regenerate_message_id"],
                "not": {
                    "anyOf": [
                        {"required": ["content"]},
                        {"required": ["attachments"]},
                        {"required": ["retry_message_id"]},
                        {"required": ["parent_id"]},
                    ]
                },
            },
        ],
    }
    content = StrictCharField(
        trim_whitespace=False,
        required=False,
        help_text="The user's message; required unless retry_message_id, regenerate_message_id or attachments are given.",
    )
    parent_id = StrictCharField(
        max_length=24,
        required=False,
        allow_null=True,
        help_text=(
            "Addition: the message the new one follows (editing a message = sending the new text with the edited "
            "message's parent_id); null starts a new first message; without it the current branch is continued."
        ),
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
    regenerate_message_id = StrictCharField(
        max_length=24,
        required=False,
        help_text=(
            "Addition: an assistant reply of the conversation (any position); a new reply to the same user message "
            "is generated beside it (a sibling) and becomes the current leaf. Give either this or content."
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
        named = [name for name in ("retry_message_id", "regenerate_message_id") if name in attrs]
        if len(named) > 1:
            raise serializers.ValidationError({named[1]: ["Give either retry_message_id or regenerate_message_id, not both."]})
        if named:
            if has_content:
                raise serializers.ValidationError({"content": [f"Give either content or {named[0]}, not both."]})
            if "parent_id" in attrs:
                raise serializers.ValidationError({"parent_id": [f"parent_id goes with content, not with {named[0]}."]})
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


# --- export and import --------------------------------------------------------------


class ImportInput(serializers.Serializer):
    file = serializers.FileField(
        help_text="A Luxx conversation export (JSON) or the conversations.json of a ChatGPT data export.",
    )


class ImportSkipped(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the conversation in the file (0-based).")
    title = serializers.CharField(allow_null=True)
    reason = serializers.CharField()


class ImportOutput(serializers.Serializer):
    format = serializers.ChoiceField(choices=["luxx", "chatgpt"], help_text="The kind of file recognised.")
    imported = serializers.IntegerField(help_text="Conversations created.")
    messages = serializers.IntegerField(help_text="Messages created.")
    skipped = ImportSkipped(many=True, help_text="Conversations of the file left out, with the reason.")
    skipped_messages = serializers.IntegerField(
        help_text=(
            "Messages left out of imported conversations (system and hidden messages, images and files whose bytes are not in the file)."
        )
    )
    conversations = ConversationSerializer(many=True)


class ExportConversation(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    model = serializers.CharField(allow_blank=True)
    system_prompt = serializers.CharField(allow_blank=True)
    temperature = serializers.FloatField()
    max_tokens = serializers.IntegerField()
    thinking_enabled = serializers.BooleanField()
    enabled_tools = serializers.ListField(child=serializers.CharField(), allow_null=True)
    project_id = serializers.CharField(allow_null=True)
    current_leaf_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ExportMessage(serializers.Serializer):
    id = serializers.CharField()
    parent_id = serializers.CharField(allow_null=True)
    role = serializers.CharField(help_text="user or assistant")
    content = serializers.CharField(allow_blank=True)
    process_steps = serializers.ListField(child=serializers.DictField())
    citations = serializers.ListField(child=serializers.DictField())
    attachments = serializers.ListField(child=serializers.JSONField())
    usage = serializers.DictField(allow_null=True)
    token_count = serializers.IntegerField()
    status = serializers.CharField()
    error = serializers.CharField(allow_blank=True)
    model = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class ConversationExport(serializers.Serializer):
    """The JSON export's shape (documentation: the view writes the file itself)."""

    format = serializers.ChoiceField(choices=["luxx.conversation"])
    version = serializers.IntegerField()
    exported_at = serializers.DateTimeField()
    conversation = ExportConversation()
    messages = ExportMessage(many=True, help_text="Every message of the tree, parents before their children.")
