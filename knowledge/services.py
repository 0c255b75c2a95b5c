"""Documents in, passages out: upload and index, search, and retrieval for chat answers."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.db.models import Exists, Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from rest_framework import status

from knowledge import index
from knowledge.chunking import chunk_pages
from knowledge.embeddings import Embedder, EmbeddingError, embedder, hybrid_fusion, pack
from knowledge.extract import ExtractionError, extract, file_type_for
from knowledge.models import Chunk, Document, DocumentQuerySet, DocumentStatus, DocumentUpload
from knowledge.segment import boost_text, query_words, segment
from knowledge.vector_search import nearest_chunks
from luxx.api import Conflict, LuxxError
from luxx.db import write_transaction
from luxx.prepared import PreparedQuery

SNIPPET_CHARS = 240
FUSION_DEPTH = 50
EMBED_BATCH = 64
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrievedChunk:
    document_id: int
    document_name: str
    chunk_index: int
    content: str
    score: float
    page: int | None
    heading: str


def too_large_message() -> str:
    return _("The file is larger than %(limit)s MB.") % {"limit": settings.LUXX_MAX_UPLOAD_MB}


def document_check(*, name: str, size: int) -> str:
    """The file type for an upload of this name and size: 415 for an unsupported type,
    413 over LUXX_MAX_UPLOAD_MB. Views call it before reading the upload's bytes."""
    file_type = file_type_for(name)
    if file_type is None:
        raise LuxxError(_("Unsupported file type: upload a PDF, TXT or Markdown file."), status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
    if size > settings.LUXX_MAX_UPLOAD_MB * 1024 * 1024:
        raise LuxxError(too_large_message(), status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    return file_type


def document_upload(*, user: Any, agent: Any | None, name: str, data: bytes, background: bool = True) -> Document:
    """Check an upload and store it with status ``processing``; it is indexed by the
    ``knowledge.tasks.index_document`` task (by ``document_index``), which makes it
    ``ready`` or ``error`` with the reason.

    What can be told without reading the file is refused at once: its type (415), its size
    (413), an empty file (400), the same bytes already uploaded for the same user and agent
    (409, naming that document). ``background=False`` (``manage.py ingest``) indexes in
    this process before returning, through the same ``document_index``, and makes its
    vectors too (``document_embed``) when an embedder is set.
    """
    from knowledge.tasks import index_document

    file_type = document_check(name=name, size=len(data))
    if not data:
        raise LuxxError(_("The file is empty."))
    digest = hashlib.sha256(data).hexdigest()
    _refuse_duplicate(user=user, agent=agent, digest=digest)
    with _duplicate_as_conflict(user=user, agent=agent, digest=digest), write_transaction():
        document = Document.objects.create(user=user, agent=agent, name=name[:255], file_type=file_type, size=len(data), sha256=digest)
        DocumentUpload.objects.create(document=document, data=data)
        if background:
            # In the same transaction: a document is never left without its task.
            index_document.enqueue(document.pk, get_language() or settings.LANGUAGE_CODE)
    if not background:
        document_index(document_id=document.pk, embed_later=False)
        try:
            document_embed(document_id=document.pk)
        except EmbeddingError as error:
            logger.warning("Document %s keeps to lexical search: %s", document.pk, error)
        document.refresh_from_db()
    return document


def document_index(*, document_id: int, embed_later: bool = True) -> None:
    """Extract, chunk and index a ``processing`` document from its stored upload.

    Safe to run twice, or after a run that died: the chunks are stored in one transaction
    that also makes the document ``ready``, only while it is still ``processing``; a file
    that cannot be read makes it ``error`` with the reason (in the active language).
    With an embedder set and ``embed_later``, that transaction also enqueues the
    ``embed_document`` task: the document is searchable by words at once, and by meaning
    once its vectors are made."""
    from knowledge.tasks import embed_document

    document = Document.objects.filter(pk=document_id, status=DocumentStatus.PROCESSING).first()
    if document is None:
        return  # indexed already, given up, or deleted
    data = DocumentUpload.objects.filter(document_id=document_id).values_list("data", flat=True).first()
    if data is None:
        document_fail(document_id=document_id, reason=_("The uploaded file is gone; upload it again."))
        return
    try:
        prepared = _prepare(bytes(data), document.file_type)
    except ExtractionError as error:
        document_fail(document_id=document_id, reason=str(error))
        return
    with write_transaction():
        if not Document.objects.select_for_update().filter(pk=document_id, status=DocumentStatus.PROCESSING).exists():
            return
        _store(document, prepared)
        DocumentUpload.objects.filter(document_id=document_id).delete()
        if embed_later and embedder() is not None:
            embed_document.enqueue(document_id)


def document_embed(*, document_id: int) -> int:
    """Make the vectors of a ready document's chunks that have none from the current
    embedder's model, EMBED_BATCH chunks per call to the embedder, each batch stored in
    its own transaction (a run that dies resumes where it stopped). Returns how many chunks
    got vectors; raises EmbeddingError when the embedder fails (the task is then retried;
    the document stays searchable by words meanwhile)."""
    current = embedder()
    made = 0
    if current is None:
        return made
    while True:
        batch = list(
            _lacking_vectors(current.model)
            .filter(document_id=document_id)
            .order_by("index")
            .values_list("pk", "heading", "content", "document__user_id")[:EMBED_BATCH]
        )
        if not batch:
            return made
        texts = [f"{heading}\n{content}" for _, heading, content, _ in batch]
        vectors = current.embed_passages(texts, user_id=batch[0][3], document_id=document_id)
        with write_transaction():
            chunks = [
                Chunk(pk=pk, embedding=pack(parts), embedding_model=current.model) for (pk, *_), parts in zip(batch, vectors, strict=True)
            ]
            Chunk.objects.bulk_update(chunks, ["embedding", "embedding_model"])
            # A new updated_at tells the vector cache of each process to read the scope again.
            Document.objects.filter(pk=document_id).update(updated_at=timezone.now())
        made += len(batch)


def documents_to_embed() -> list[int]:
    """Ready documents with chunks that have no vectors from the current embedder's model
    (uploaded before it was set, or left by an outage that outlasted the task's retries)."""
    current = embedder()
    if current is None:
        return []
    return sorted(set(_lacking_vectors(current.model).values_list("document_id", flat=True)))


def _lacking_vectors(model: str) -> Any:
    """Chunks of ready documents with no vectors of ``model``."""
    return Chunk.objects.filter(document__status=DocumentStatus.READY).filter(Q(embedding__isnull=True) | ~Q(embedding_model=model))


def document_fail(*, document_id: int, reason: str) -> None:
    """A ``processing`` document that will not be indexed: ``error`` with the reason."""
    with write_transaction():
        Document.objects.filter(pk=document_id, status=DocumentStatus.PROCESSING).update(status=DocumentStatus.ERROR, error_message=reason)
        DocumentUpload.objects.filter(document_id=document_id).delete()


def _refuse_duplicate(*, user: Any, agent: Any | None, digest: str) -> None:
    """The same bytes in the same scope are a 409 naming the document; a copy whose
    indexing failed is replaced instead, so a retry works."""
    existing = Document.objects.owned_by(user).filter(sha256=digest, agent=agent).first()
    if existing is not None and (existing.status == DocumentStatus.ERROR or _is_stale(existing)):
        document_delete(document=existing)
    elif existing is not None:
        raise Conflict(_("This file is already uploaded as document %(id)s (%(name)s).") % {"id": existing.pk, "name": existing.name})


def _is_stale(document: Document) -> bool:
    """A document still ``processing`` long after its upload: its task was lost (another
    task backend, or results pruned), so nothing will finish it."""
    limit = timedelta(minutes=settings.LUXX_KNOWLEDGE_STALE_MINUTES)
    return document.status == DocumentStatus.PROCESSING and document.created_at < timezone.now() - limit


@contextlib.contextmanager
def _duplicate_as_conflict(*, user: Any, agent: Any | None, digest: str) -> Iterator[None]:
    """Two uploads of the same bytes racing past the early check: the unique constraint
    stops the second, which then answers like the early check would."""
    try:
        yield
    except IntegrityError:
        _refuse_duplicate(user=user, agent=agent, digest=digest)
        # The other upload failed and was cleared away in the meantime.
        raise Conflict(_("The same file was being uploaded at the same moment; try again.")) from None


@dataclass
class _Prepared:
    drafts: list[Any]
    segmented: list[str]


def _prepare(data: bytes, file_type: str) -> _Prepared:
    """Everything slow that needs no database: extraction, chunking, segmentation."""
    pages = extract(data, file_type)
    drafts = chunk_pages(pages, markdown=file_type == "markdown")
    if not drafts:
        raise ExtractionError(_("The file has no text to index."))
    return _Prepared(drafts, [segment(f"{draft.heading}\n{draft.content}") for draft in drafts])


def _store(document: Document, prepared: _Prepared) -> None:
    chunks = Chunk.objects.bulk_create(
        [
            Chunk(
                document=document,
                index=position,
                content=draft.content,
                heading=draft.heading[:500],
                page=draft.page,
                char_start=draft.char_start,
                char_end=draft.char_end,
                search_text=text,
                boost_text=boost_text(text),
            )
            for position, (draft, text) in enumerate(zip(prepared.drafts, prepared.segmented, strict=True))
        ]
    )
    Document.objects.filter(pk=document.pk).update(status=DocumentStatus.READY, chunk_count=len(chunks), error_message="")


def document_delete(*, document: Document) -> None:
    with write_transaction():
        document.delete()


def knowledge_search(
    *, user_id: int, query: str, agent_id: int | None = None, top_k: int = 5, for_chat: bool = False
) -> list[RetrievedChunk]:
    """The user's best passages for a query (and only the agent's documents, when given;
    with ``for_chat``, the documents a chat answers from, see ``chat_documents``): the
    lexical ranking, fused with the vector ranking (LUXX_HYBRID_VECTOR_WEIGHT) when an
    embedder is set and understands the query."""
    current = embedder()
    scope: dict[str, Any] = {"user_id": user_id, "agent_id": agent_id, "for_chat": for_chat}
    if current is None or not current.understands(query):
        ranked = index.lexical_search(terms=query_words(query), limit=top_k, **scope)
    elif not _has_ready_documents(**scope):
        return []  # nothing to search: spare the embeddings provider a call
    else:
        lexical = index.lexical_search(terms=query_words(query), limit=FUSION_DEPTH, **scope)
        vector = _vector_ranking(current, query=query, **scope)
        ranked = hybrid_fusion(lexical, vector, weight=settings.LUXX_HYBRID_VECTOR_WEIGHT)[:top_k]
    if not ranked:
        return []
    fields = ("pk", "document_id", "document__name", "index", "content", "page", "heading")
    rows = {row[0]: row for row in Chunk.objects.filter(pk__in=[chunk_id for chunk_id, _ in ranked]).values_list(*fields)}
    return [
        RetrievedChunk(
            document_id=row[1], document_name=row[2], chunk_index=row[3], content=row[4], score=round(score, 4), page=row[5], heading=row[6]
        )
        for chunk_id, score in ranked
        if (row := rows.get(chunk_id)) is not None
    ]


def _vector_ranking(current: Embedder, *, query: str, user_id: int, agent_id: int | None, for_chat: bool) -> list[tuple[int, float]]:
    try:
        [query_vector] = current.embed([query], user_id=user_id)
    except EmbeddingError:
        logger.warning("Embeddings unavailable; searching lexically only")
        return []
    return nearest_chunks(
        query_vector=query_vector, model=current.model, user_id=user_id, agent_id=agent_id, limit=FUSION_DEPTH, for_chat=for_chat
    )


def _has_ready_documents(*, user_id: int, agent_id: int | None, for_chat: bool) -> bool:
    if for_chat:
        return chat_has_documents(user_id=user_id, agent_id=agent_id)
    scope = Document.objects.filter(user_id=user_id, status=DocumentStatus.READY)
    if agent_id is not None:
        scope = scope.filter(agent_id=agent_id)
    return scope.exists()


def agent_has_documents(*, agent_id: int) -> bool:
    """Whether the agent has at least one ready document (one indexed query)."""
    return Document.objects.filter(agent_id=agent_id, status=DocumentStatus.READY).exists()


def chat_documents(*, user_id: int, agent_id: int | None) -> DocumentQuerySet:
    """The ready documents a chat answers from: the user's documents attached to no agent
    ("No agent (all chats)" on the Knowledge page) answer in every chat of theirs; a chat
    with an agent also answers from the agent's documents."""
    unattached = Q(user_id=user_id, agent__isnull=True)
    scope = unattached | Q(user_id=user_id, agent_id=agent_id) if agent_id is not None else unattached
    return Document.objects.filter(scope, status=DocumentStatus.READY)


_ANY_CHAT_DOCUMENT = PreparedQuery(lambda user_id: chat_documents(user_id=user_id, agent_id=None).values_list("pk")[:1], user_id=int)
_ANY_AGENT_CHAT_DOCUMENT = PreparedQuery(
    lambda user_id, agent_id: chat_documents(user_id=user_id, agent_id=agent_id).values_list("pk")[:1], user_id=int, agent_id=int
)


def chat_documents_exist(*, user_id: Any, agent_id: Any) -> Exists:
    """:func:`chat_has_documents` as an expression, for the query that reads the chat itself
    (``OuterRef("user_id")``, ``OuterRef("agent_id")``), so a turn asks in the same round
    trip; a chat without an agent matches no agent's documents (``agent_id = NULL`` is
    never true)."""
    return Exists(Document.objects.filter(Q(user_id=user_id), Q(agent__isnull=True) | Q(agent_id=agent_id), status=DocumentStatus.READY))


def chat_has_documents(*, user_id: int, agent_id: int | None) -> bool:
    """Whether a chat turn has documents to answer from: one query on indexed columns
    (the user's, the agent's), so that a chat without documents costs a single query;
    compiled once (luxx.prepared), as every turn asks."""
    if agent_id is None:
        return _ANY_CHAT_DOCUMENT.first(user_id=user_id) is not None
    return _ANY_AGENT_CHAT_DOCUMENT.first(user_id=user_id, agent_id=agent_id) is not None


def knowledge_retrieve(*, user_id: int, agent_id: int | None, query: str, top_k: int = 5) -> list[RetrievedChunk]:
    """Passages for a chat turn: the best chunks for ``query`` among the documents the chat
    answers from (``chat_documents``), best first. Synchronous; call it through
    ``run_db``/``sync_to_async`` from async code."""
    return knowledge_search(user_id=user_id, query=query, agent_id=agent_id, top_k=top_k, for_chat=True)


def format_sources_for_prompt(chunks: list[RetrievedChunk]) -> str:
    """Numbered sources for the system context::

        Sources:

        [1] guide.pdf (page 3, Install > Linux)
        <chunk text>

    The numbers match ``citations_from(chunks)[i]["index"]``; empty input gives ``""``.
    """
    if not chunks:
        return ""
    blocks = ["Sources:"]
    for number, chunk in enumerate(chunks, start=1):
        where = ", ".join(part for part in (f"page {chunk.page}" if chunk.page else "", chunk.heading) if part)
        blocks.append(f"[{number}] {chunk.document_name}" + (f" ({where})" if where else "") + f"\n{chunk.content}")
    return "\n\n".join(blocks)


def citations_from(chunks: list[RetrievedChunk]) -> list[dict[str, Any]]:
    """What a reply stores about its sources, in prompt order; ``snippet`` is the first
    SNIPPET_CHARS characters of the chunk."""
    return [
        {
            "index": number,
            "document_id": chunk.document_id,
            "document_name": chunk.document_name,
            "chunk_index": chunk.chunk_index,
            "page": chunk.page,
            "heading": chunk.heading,
            "snippet": chunk.content[:SNIPPET_CHARS],
        }
        for number, chunk in enumerate(chunks, start=1)
    ]
