"""Reads of knowledge data, always scoped to their owner."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from agents.models import Agent
from knowledge.models import Chunk, Document, DocumentQuerySet
from luxx.api import NotFound


def agent_owned(*, user: Any, agent_id: int | None) -> Agent | None:
    """The caller's agent with this id (None for None); another user's agent, or one that
    does not exist, is a 404 so that ids of other users' agents are not revealed."""
    if agent_id is None:
        return None
    agent = Agent.objects.owned_by(user).filter(pk=agent_id).first()
    if agent is None:
        raise NotFound(_("Agent not found."))
    return agent


def document_list(*, user: Any, agent: Agent | None = None) -> DocumentQuerySet:
    documents = Document.objects.owned_by(user).order_by("-created_at", "-id")
    if agent is not None:
        documents = documents.filter(agent=agent)
    return documents


def document_get(*, user: Any, document_id: int) -> Document:
    document = Document.objects.owned_by(user).select_related("agent").filter(pk=document_id).first()
    if document is None:
        raise NotFound(_("Document not found."))
    return document


def chunk_list(*, document: Document) -> QuerySet[Chunk]:
    """The chunks of a document in index order. The document comes from ``document_get``,
    which has already scoped it to its owner. The search words and the vector are left
    out: nothing that lists chunks shows them, and they are as large as the text."""
    return Chunk.objects.filter(document=document).order_by("index").defer("search_text", "embedding")
