from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from luxx.ids import new_conversation_id, new_message_id


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def owned_by(self, user: Any) -> ConversationQuerySet:
        return self.filter(user=user)


class Conversation(models.Model):
    id = models.CharField(primary_key=True, max_length=24, default=new_conversation_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    project_id = models.CharField(max_length=100, null=True, blank=True, db_index=True)
    title = models.CharField(max_length=200, default="New conversation")
    title_is_custom = models.BooleanField(default=False)
    provider = models.ForeignKey("agents.Provider", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    agent = models.ForeignKey("agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    model = models.CharField(max_length=200, blank=True)
    system_prompt = models.TextField(blank=True)
    temperature = models.FloatField(default=0.7)
    max_tokens = models.PositiveIntegerField(default=2000)
    thinking_enabled = models.BooleanField(default=False)
    enabled_tools = models.JSONField(
        null=True,
        blank=True,
        help_text="The tools chosen for this conversation (names); null until chosen: an agent's chat then uses the agent's tools.",
    )
    # The end of the branch shown and continued (chat/selectors.py: message_path); null
    # until the first message, or when the leaf was deleted (the newest message then).
    current_leaf = models.ForeignKey("chat.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["user", "-updated_at"])]

    def __str__(self) -> str:
        return self.title


class MessageRole(models.TextChoices):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class MessageStatus(models.TextChoices):
    COMPLETE = "complete"
    STREAMING = "streaming"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"
    ERROR = "error"


class MessageQuerySet(models.QuerySet["Message"]):
    def owned_by(self, user: Any) -> MessageQuerySet:
        return self.filter(user=user)


class Message(models.Model):
    """One turn of a conversation or of a chat room. ``process_steps`` is the single source
    of truth for how an assistant reply renders; ``content`` is its text.

    A conversation's messages form a tree by ``parent`` (null for a first message; edits
    and regenerated replies are siblings); room messages have no parent."""

    id = models.CharField(primary_key=True, max_length=24, default=new_message_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages")
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="messages")
    room = models.ForeignKey("rooms.ChatRoom", null=True, blank=True, on_delete=models.CASCADE, related_name="messages")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    role = models.CharField(max_length=16, choices=MessageRole.choices)
    content = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    process_steps = models.JSONField(default=list, blank=True)
    citations = models.JSONField(default=list, blank=True)
    token_count = models.PositiveIntegerField(default=0)
    usage = models.JSONField(null=True, blank=True)
    # Kept for the sweep of a reply whose process died, which settles it (usage.services).
    usage_reserved = models.JSONField(
        null=True, blank=True, editable=False, help_text="What the usage limits reserved for this reply when it started."
    )
    status = models.CharField(max_length=16, choices=MessageStatus.choices, default=MessageStatus.COMPLETE)
    error = models.TextField(blank=True)
    model = models.CharField(max_length=200, blank=True)
    sender_name = models.CharField(max_length=100, blank=True)
    sender_color = models.CharField(max_length=7, blank=True)
    round_number = models.PositiveSmallIntegerField(default=0)
    room_agent = models.ForeignKey("rooms.RoomAgent", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"]),
            models.Index(fields=["room", "created_at"]),
        ]

    def __str__(self) -> str:
        return self.id
