"""Writes that background tasks make on conversations and messages: generated titles,
and replies whose process died."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_noop

from chat.context import title_from_text
from chat.models import Conversation, Message, MessageRole, MessageStatus
from luxx.db import first_unordered, write_transaction
from usage.models import UsageKind
from usage.services import CutReply, cut_replies_settle

DEFAULT_TITLE = str(Conversation._meta.get_field("title").default)
# Stored in English, as the API's other texts; the chat page shows its translation.
PROCESS_DIED = gettext_noop("The server process writing this reply stopped before it finished.")
CUT_FIELDS = ("pk", "user_id", "conversation_id", "room_id", "model", "usage_reserved", "usage", "content", "process_steps")


def default_titles(conversation: Conversation) -> set[str]:
    """The titles a conversation has before one is generated: the default, or its agent's name."""
    return {DEFAULT_TITLE} | ({conversation.agent.name} if conversation.agent else set())


def conversation_title_is_default(*, conversation_id: str) -> bool:
    conversation = first_unordered(Conversation.objects.select_related("agent").filter(pk=conversation_id, title_is_custom=False))
    return conversation is not None and conversation.title in default_titles(conversation)


def conversation_title_generate(*, conversation_id: str) -> str | None:
    """Title a conversation after its first user message, while its title is still a
    default one (whatever became of the replies: complete, stopped, failed, interrupted).
    Answer the new title, or None when there was nothing to do. Never overwrites a title
    the user set, even one set while this ran."""
    conversation = Conversation.objects.select_related("agent").filter(pk=conversation_id, title_is_custom=False).first()
    if conversation is None or conversation.title not in default_titles(conversation):
        return None
    first = conversation.messages.filter(role=MessageRole.USER).order_by("created_at", "id").values_list("content", flat=True).first()
    if not first:
        return None
    title = title_from_text(first)[:200]
    if title in (conversation.title, DEFAULT_TITLE):
        return None
    with write_transaction():
        updated = Conversation.objects.filter(pk=conversation_id, title_is_custom=False, title=conversation.title).update(title=title)
    return title if updated else None


def replies_interrupt_stale(*, silent_for: timedelta) -> list[str]:
    """Mark ``interrupted`` every chat reply still ``streaming`` whose writer has not saved
    it for ``silent_for`` (its process died: a live one saves at least every 2 seconds),
    keeping its text, and settle its usage: what it produced is recorded, what it reserved
    given back, its stream released. Answer the ids of their conversations. Room turns are
    left to the room's run, which retries them."""
    cutoff = timezone.now() - silent_for
    stale = Message.objects.filter(status=MessageStatus.STREAMING, room__isnull=True, updated_at__lt=cutoff)
    found = list(stale.values_list("pk", flat=True))
    if not found:
        return []
    with write_transaction():
        # Still stale at the moment of the update (locked until it, so that a writer
        # finishing one now cannot settle it too): a writer that saved since keeps its reply.
        still = list(
            Message.objects.select_for_update()
            .filter(pk__in=found, status=MessageStatus.STREAMING, updated_at__lt=cutoff)
            .order_by("pk")  # the order the reply writer locks them in (chat.progress)
            .only(*CUT_FIELDS)
        )
        if not still:
            return []
        Message.objects.filter(pk__in=[m.pk for m in still]).update(
            status=MessageStatus.INTERRUPTED, error=PROCESS_DIED, updated_at=timezone.now()
        )
        records = cut_replies_settle([cut_reply_of(message) for message in still])
        without_usage = {m.pk for m in still if not m.usage}
        for record in (r for r in records if r.message_id in without_usage):
            # The reply shows what it used, as a stopped one does.
            reply_usage = {
                "prompt_tokens": record.prompt_tokens,
                "completion_tokens": record.completion_tokens,
                "total_tokens": record.total_tokens,
                "estimated": record.estimated,
            }
            Message.objects.filter(pk=record.message_id).update(usage=reply_usage, token_count=record.total_tokens)
    return sorted({m.conversation_id for m in still if m.conversation_id})


def cut_reply_of(message: Message) -> CutReply:
    """What the ledger needs of a reply or room turn whose process died (see
    usage.services.cut_replies_settle); load the fields of CUT_FIELDS."""
    thinking = "".join(str(step.get("content") or "") for step in message.process_steps or () if step.get("type") == "thinking")
    return CutReply(
        user_id=message.user_id,
        message_id=message.pk,
        conversation_id=message.conversation_id,
        model=message.model,
        reserved=message.usage_reserved,
        usage=message.usage,
        produced=thinking + message.content,
        kind=(message.usage_reserved or {}).get("kind") or (UsageKind.ROOM if message.room_id else UsageKind.CHAT),
        room_id=message.room_id,
    )
