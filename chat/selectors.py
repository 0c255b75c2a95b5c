"""Reads on conversations, scoped to their owner."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from chat.models import Conversation


def conversation_list(*, user: User, project_id: str | None = None, search: str | None = None) -> QuerySet[Conversation]:
    """The user's conversations, most recently active first; ``search`` keeps those whose
    title contains it (case-insensitive)."""
    conversations = Conversation.objects.owned_by(user).order_by("-updated_at", "-id")
    if project_id:
        conversations = conversations.filter(project_id=project_id)
    if search:
        conversations = conversations.filter(title__icontains=search)
    return conversations
