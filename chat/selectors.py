"""Reads on conversations, scoped to their owner."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from accounts.models import User
from chat.models import Conversation, Message
from luxx.prepared import PreparedQuery


def conversation_list(*, user: User, project_id: str | None = None, search: str | None = None) -> QuerySet[Conversation]:
    """The user's conversations, most recently active first; ``search`` keeps those whose
    title contains it (case-insensitive)."""
    conversations = Conversation.objects.owned_by(user).order_by("-updated_at", "-id")
    if project_id:
        conversations = conversations.filter(project_id=project_id)
    if search:
        conversations = conversations.filter(title__icontains=search)
    return conversations


# --- the message tree -----------------------------------------------------------------
#
# A conversation's messages form a tree by ``parent``. Paths are read with recursive CTEs
# (SQLite and PostgreSQL both have them), one query whatever the depth, never one query
# per level. ``depth`` bounds the walk, so a corrupt cycle cannot run away.

_PATH_SQL = """
WITH RECURSIVE path(id, parent_id, depth) AS (
    SELECT id, parent_id, 0 FROM chat_message WHERE id = %s AND conversation_id = %s
    UNION ALL
    SELECT m.id, m.parent_id, path.depth + 1 FROM chat_message m JOIN path ON m.id = path.parent_id
    WHERE path.depth + 1 < %s
)
SELECT {columns} FROM path JOIN chat_message m ON m.id = path.id ORDER BY path.depth DESC
"""
# What a turn's history needs: the other columns (process steps, citations, usage) can be
# large, and are left deferred.
HISTORY_COLUMNS = ("id", "parent_id", "conversation_id", "role", "content", "attachments", "status", "created_at")

_NEWEST_LEAF_SQL = """
WITH RECURSIVE below(id, depth) AS (
    SELECT id, 0 FROM chat_message WHERE id = %s AND conversation_id = %s
    UNION ALL
    SELECT m.id, below.depth + 1 FROM chat_message m JOIN below ON m.parent_id = below.id
    WHERE below.depth < 100000
)
SELECT m.id FROM below JOIN chat_message m ON m.id = below.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1
"""


def newest_first(*, conversation_id: Any) -> QuerySet[Message]:
    """A conversation's messages, the most recently created first (``conversation_id`` may
    be an ``OuterRef``, for a query of the conversation itself)."""
    return Message.objects.filter(conversation_id=conversation_id).order_by("-created_at", "-id")


_NEWEST_MESSAGE = PreparedQuery(
    lambda conversation_id: newest_first(conversation_id=conversation_id).values_list("id")[:1], conversation_id=str
)


def newest_message_id(*, conversation_id: str) -> str | None:
    """The conversation's most recently created message (the leaf of a conversation that
    has no ``current_leaf`` yet, e.g. after its leaf was deleted). Compiled once
    (luxx.prepared): every first turn of a conversation asks."""
    row = _NEWEST_MESSAGE.first(conversation_id=conversation_id)
    return row[0] if row else None


def current_leaf_id(conversation: Conversation) -> str | None:
    """The end of the branch the conversation shows and continues (the newest message read
    with the conversation, when its query annotated ``newest_message_id``)."""
    if conversation.current_leaf_id:
        return conversation.current_leaf_id
    if hasattr(conversation, "newest_message_id"):
        return conversation.newest_message_id  # type: ignore[no-any-return]
    return newest_message_id(conversation_id=conversation.pk)


def message_path(*, conversation_id: str, leaf_id: str | None, limit: int = 1000, columns: tuple[str, ...] | None = None) -> list[Message]:
    """The messages from the root down to ``leaf_id`` (its last ``limit``), oldest first;
    with ``columns``, only those are read (the others are deferred)."""
    if leaf_id is None:
        return []
    selected = ", ".join(f"m.{connection.ops.quote_name(name)}" for name in columns) if columns else "m.*"
    return list(Message.objects.raw(_PATH_SQL.format(columns=selected), [leaf_id, conversation_id, limit]))


def newest_leaf_under(*, conversation_id: str, message_id: str) -> str | None:
    """The leaf of the most recently active branch below a message (itself when it has no
    replies): the newest of its descendants, which can have no children of its own."""
    with connection.cursor() as cursor:
        cursor.execute(_NEWEST_LEAF_SQL, [message_id, conversation_id])
        row = cursor.fetchone()
    return row[0] if row else None


def sibling_ids_of(*, conversation_id: str, messages: list[Message]) -> dict[str, list[str]]:
    """For each message, the ids of the messages with its parent (itself included), in
    creation order: one query for the whole page."""
    parents = {m.parent_id for m in messages}
    if not parents:
        return {}
    condition = Q(parent_id__in=[p for p in parents if p is not None])
    if None in parents:
        condition |= Q(parent__isnull=True)
    by_parent: dict[str | None, list[str]] = {}
    rows = Message.objects.filter(condition, conversation_id=conversation_id).order_by("created_at", "id").values_list("id", "parent_id")
    for message_id, parent_id in rows:
        by_parent.setdefault(parent_id, []).append(message_id)
    return {m.pk: by_parent.get(m.parent_id, [m.pk]) for m in messages}


def sibling_ids_in(messages: list[Message]) -> dict[str, list[str]]:
    """Sibling ids computed from a list that holds every message of a conversation."""
    by_parent: dict[str | None, list[str]] = {}
    for message in sorted(messages, key=lambda m: (m.created_at, m.pk)):
        by_parent.setdefault(message.parent_id, []).append(message.pk)
    return {m.pk: by_parent[m.parent_id] for m in messages}
