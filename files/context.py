"""Attachments in a chat turn: resolved in one query during the turn's set-up, then turned
into what the model is given (images as image content, documents as quoted, labelled
passages within a budget, with citations for the new message's)."""

from __future__ import annotations

import base64
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db.models import BinaryField, Case, F, Value, When
from django.utils.translation import gettext as _
from rest_framework import exceptions

from files.models import File, FileKind
from luxx.api import NotFound
from luxx.text import estimate_tokens

SNIPPET_CHARS = 240
IMAGE_MAX_TOKENS = 1600
PUBLIC_FIELDS = ("id", "name", "kind", "content_type", "size", "width", "height")


def image_tokens(width: int | None, height: int | None) -> int:
    """What an image costs in the model's window, about (Anthropic's rule, w*h/750, which
    is also close to OpenAI's tiles at the sizes kept)."""
    if not width or not height:
        return 85
    return min(IMAGE_MAX_TOKENS, math.ceil(width * height / 750))


def listing(row: Any) -> dict[str, Any]:
    """What a stored message says about one of its attachments."""
    return {key: row.get(key) for key in PUBLIC_FIELDS}


@dataclass
class _Loaded:
    id: str
    name: str
    kind: str
    content_type: str
    width: int | None
    height: int | None
    conversation_id: str | None
    image: bytes | None
    chunks: list[dict[str, Any]]


@dataclass
class TurnFiles:
    """The attachments of a turn's window, as plain data, and how to give them to the model.

    ``expand`` is the hook of ``chat.context.history_within_budget``: a message with its
    attachments in the shape the adapters take (``images`` beside ``content``) and its cost."""

    current_id: str | None = None
    vision: bool = True
    doc_budget: int = 8000
    first_citation: int = 1
    new: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, _Loaded] = field(default_factory=dict)
    citations: list[dict[str, Any]] = field(default_factory=list)
    to_claim: list[str] = field(default_factory=list)
    requested: set[str] = field(default_factory=set)

    @property
    def new_has_images(self) -> bool:
        return any(item["kind"] == FileKind.IMAGE for item in self.new)

    def expand(self, message: Any) -> tuple[dict[str, Any] | None, int]:
        attachments = message.attachments if message.role == "user" else None
        if not attachments:
            if not message.content:
                return None, 0
            return {"role": message.role, "content": message.content}, estimate_tokens(message.content) + 4
        current = message.pk == self.current_id
        parts = [message.content] if message.content else []
        pictures: list[dict[str, str]] = []
        cost = 4
        documents: list[_Loaded] = []
        for item in attachments:
            loaded = self.files.get(item.get("id", ""))
            if loaded is None and item.get("id") in self.requested:
                parts.append(_("[Attachment %(name)s: no longer available]") % {"name": item.get("name", "")})
            elif loaded is None:
                # Outside the window estimated from what messages store: not read, not sent again.
                parts.append(_("[Attachment %(name)s: not shown again]") % {"name": item.get("name", "")})
            elif loaded.kind == FileKind.IMAGE and self.vision and loaded.image is not None:
                pictures.append({"media_type": loaded.content_type, "data": base64.b64encode(loaded.image).decode("ascii")})
                cost += image_tokens(loaded.width, loaded.height)
            elif loaded.kind == FileKind.IMAGE:
                parts.append(_("[Image %(name)s attached: this model cannot see images]") % {"name": loaded.name})
            else:
                documents.append(loaded)
        if documents:
            block, cited = self._documents(documents, question=message.content, numbered=current)
            parts.append(block)
            if current:
                self.citations = cited
        text = "\n\n".join(parts)
        cost += estimate_tokens(text)
        entry: dict[str, Any] = {"role": message.role, "content": text}
        if pictures:
            entry["images"] = pictures
        return entry, cost

    def _documents(self, documents: list[_Loaded], *, question: str, numbered: bool) -> tuple[str, list[dict[str, Any]]]:
        """The documents' passages that fit the budget: all of them when they fit, else the
        best for the question, in document order; numbered for citing when ``numbered``."""
        from knowledge.segment import query_words

        pool = [(d, index, chunk) for d in documents for index, chunk in enumerate(d.chunks)]
        costs = [estimate_tokens(chunk["content"]) + 12 for _d, _i, chunk in pool]
        if sum(costs) <= self.doc_budget:
            chosen = list(range(len(pool)))
        else:
            scores = _scores([chunk.get("words", "") for _d, _i, chunk in pool], query_words(question) if question else [])
            order = sorted(range(len(pool)), key=lambda i: (-scores[i], i))
            chosen, used = [], 0
            for i in order:
                if used + costs[i] <= self.doc_budget:
                    chosen.append(i)
                    used += costs[i]
            chosen.sort()
        lines = [
            _("Attached documents (quoted passages; cite them as [n] when you use them):")
            if numbered
            else _("Attached documents (quoted passages):")
        ]
        citations: list[dict[str, Any]] = []
        for position, i in enumerate(chosen):
            document, index, chunk = pool[i]
            where = ", ".join(part for part in (f"page {chunk['page']}" if chunk.get("page") else "", chunk.get("heading") or "") if part)
            label = document.name + (f" ({where})" if where else "")
            number = self.first_citation + position
            quoted = "\n".join("> " + line for line in chunk["content"].splitlines())
            lines.append((f"[{number}] " if numbered else "") + label + "\n" + quoted)
            if numbered:
                citations.append(
                    {
                        "index": number,
                        "file_id": document.id,
                        "document_id": None,
                        "document_name": document.name,
                        "chunk_index": index,
                        "page": chunk.get("page"),
                        "heading": chunk.get("heading") or "",
                        "snippet": chunk["content"][:SNIPPET_CHARS],
                    }
                )
        if len(chosen) < len(pool):
            lines.append(_("(%(left)s more passages of these documents were left out.)") % {"left": len(pool) - len(chosen)})
        return "\n\n".join(lines), citations


def _scores(texts: list[str], terms: list[str]) -> list[float]:
    """A small BM25-like score of each passage for the question's words."""
    if not terms:
        return [0.0] * len(texts)
    counted = [Counter(text.split()) for text in texts]
    total = len(texts)
    scores = []
    for counts in counted:
        score = 0.0
        for term in set(terms):
            tf = counts.get(term, 0)
            if tf:
                df = sum(1 for c in counted if term in c)
                score += (1 + math.log(tf)) * math.log(1 + total / df)
        scores.append(score)
    return scores


def _estimated_cost(message: Any, doc_budget: int) -> int:
    """A message's cost from what it stores (no file read): documents at their budget."""
    cost = estimate_tokens(message.content or "") + 4
    for item in message.attachments or () if message.role == "user" else ():
        cost += image_tokens(item.get("width"), item.get("height")) if item.get("kind") == FileKind.IMAGE else 0
    if message.role == "user" and any(item.get("kind") == FileKind.DOCUMENT for item in message.attachments or ()):
        cost += doc_budget
    return cost


def turn_files(
    *,
    user_id: int,
    conversation_id: str,
    new_ids: list[str],
    earlier: list[Any],
    budget: int,
    doc_budget: int,
    first_citation: int = 1,
    replayed: bool = False,
) -> TurnFiles:
    """Resolve a turn's attachments: the new message's (``new_ids``, each the user's, and
    of no other conversation: else 404 / 400) and those of the earlier messages that may
    fit the window. One query, and none when no message of the window has attachments;
    images' bytes are read only for those messages, documents' passages instead of their
    bytes. Call inside the turn's set-up transaction, before the user message is saved.

    ``replayed``: the ids are those of a message already saved (a regenerated reply): one
    deleted since is left out (and named in its place), not refused."""
    wanted = list(dict.fromkeys(new_ids))
    room = budget - doc_budget * bool(new_ids)
    window: list[str] = []
    for message in reversed(earlier):
        room -= _estimated_cost(message, doc_budget)
        if room < 0:
            break
        if message.role == "user":
            window.extend(item["id"] for item in message.attachments or () if isinstance(item, dict) and "id" in item)
    result = TurnFiles(doc_budget=doc_budget, first_citation=first_citation)
    ids = list(dict.fromkeys([*wanted, *window]))
    if not ids:
        return result
    result.requested = set(ids)
    image = Case(When(kind=FileKind.IMAGE, then=F("data")), default=Value(None), output_field=BinaryField())
    rows = (
        File.objects.filter(user_id=user_id, pk__in=ids)
        .annotate(image=image)
        .values("id", "name", "kind", "content_type", "size", "width", "height", "conversation_id", "image", "chunks")
    )
    found = {row["id"]: row for row in rows}
    for file_id in wanted:
        row = found.get(file_id)
        if replayed:
            if row is not None:
                result.new.append(listing(row))
            continue
        if row is None:
            raise NotFound(_("File %(id)s not found.") % {"id": file_id})
        if row["conversation_id"] not in (None, conversation_id):
            raise exceptions.ValidationError(
                {"attachments": [_("The file %(id)s is attached in another conversation: upload it again.") % {"id": file_id}]}
            )
        result.new.append(listing(row))
        if row["conversation_id"] is None:
            result.to_claim.append(file_id)
    result.files = {
        row["id"]: _Loaded(
            id=row["id"],
            name=row["name"],
            kind=row["kind"],
            content_type=row["content_type"],
            width=row["width"],
            height=row["height"],
            conversation_id=row["conversation_id"],
            image=bytes(row["image"]) if row["image"] is not None else None,
            chunks=row["chunks"] or [],
        )
        for row in found.values()
        if row["id"] in wanted or row["conversation_id"] == conversation_id
    }
    return result


def claim(*, conversation_id: str, files: TurnFiles) -> None:
    """The new message's files that belonged to no conversation now belong to this one
    (and are deleted with it)."""
    if files.to_claim:
        File.objects.filter(pk__in=files.to_claim, conversation__isnull=True).update(conversation_id=conversation_id)
