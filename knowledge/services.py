"""Documents in, passages out: upload and index, search, and retrieval for chat answers."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from rest_framework import status

from knowledge import index
from knowledge.chunking import chunk_pages
from knowledge.embeddings import EmbeddingError, cosine, embed_texts, embedding_provider, pack, reciprocal_rank_fusion, unpack
from knowledge.extract import ExtractionError, extract, file_type_for
from knowledge.models import Chunk, Document, DocumentStatus
from knowledge.segment import segment, words
from luxx.api import Conflict, LuxxError, NotFound
from luxx.db import write_transaction

SNIPPET_CHARS = 240
FUSION_DEPTH = 50
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


def document_upload(*, user: Any, agent: Any | None, name: str, data: bytes) -> Document:
    """Check, extract, chunk and index a file. A file that fails leaves nothing behind.
    Files over LUXX_KNOWLEDGE_SYNC_LIMIT_KB are indexed in a background thread: the
    document comes back with status ``processing`` and turns ``ready`` or ``error``."""
    file_type = file_type_for(name)
    if file_type is None:
        raise LuxxError("Unsupported file type: upload a PDF, TXT or Markdown file.", status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
    limit = settings.LUXX_MAX_UPLOAD_MB * 1024 * 1024
    if len(data) > limit:
        raise LuxxError(f"The file is larger than {settings.LUXX_MAX_UPLOAD_MB} MB.", status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    digest = hashlib.sha256(data).hexdigest()
    existing = Document.objects.owned_by(user).filter(sha256=digest, agent=agent).first()
    if existing is not None:
        raise Conflict(f"This file is already uploaded as document {existing.pk} ({existing.name}).")
    if len(data) > settings.LUXX_KNOWLEDGE_SYNC_LIMIT_KB * 1024:
        with write_transaction():
            document = Document.objects.create(user=user, agent=agent, name=name[:255], file_type=file_type, size=len(data), sha256=digest)
        threading.Thread(target=_index_in_background, args=(document.pk, data), name=f"index-{document.pk}", daemon=True).start()
        return document
    try:
        prepared = _prepare(data, file_type)
    except ExtractionError as error:
        raise LuxxError(str(error)) from None
    with write_transaction():
        document = Document.objects.create(
            user=user, agent=agent, name=name[:255], file_type=file_type, size=len(data), sha256=digest, chunk_count=len(prepared.drafts)
        )
        _store(document, prepared)
    document.refresh_from_db()
    return document


@dataclass
class _Prepared:
    drafts: list[Any]
    segmented: list[str]
    vectors: list[list[float]] | None


def _prepare(data: bytes, file_type: str) -> _Prepared:
    """Everything slow that needs no database: extraction, chunking, segmentation, vectors."""
    pages = extract(data, file_type)
    drafts = chunk_pages(pages, markdown=file_type == "markdown")
    if not drafts:
        raise ExtractionError("The file has no text to index.")
    segmented = [segment(f"{draft.heading}\n{draft.content}") for draft in drafts]
    provider = embedding_provider()
    vectors = None
    if provider is not None:
        try:
            vectors = embed_texts(provider, [f"{d.heading}\n{d.content}" for d in drafts])
        except EmbeddingError as error:
            raise ExtractionError(str(error)) from None
    return _Prepared(drafts, segmented, vectors)


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
                embedding=pack(prepared.vectors[position]) if prepared.vectors else None,
            )
            for position, (draft, text) in enumerate(zip(prepared.drafts, prepared.segmented, strict=True))
        ]
    )
    index.index_chunks([(chunk.pk, text) for chunk, text in zip(chunks, prepared.segmented, strict=True)])
    Document.objects.filter(pk=document.pk).update(status=DocumentStatus.READY, chunk_count=len(chunks), error_message="")


def _index_in_background(document_id: int, data: bytes) -> None:
    try:
        document = Document.objects.get(pk=document_id)
        try:
            prepared = _prepare(data, document.file_type)
        except ExtractionError as error:
            Document.objects.filter(pk=document_id).update(status=DocumentStatus.ERROR, error_message=str(error))
            return
        with write_transaction():
            _store(document, prepared)
    except Exception:  # a failed background job must show as an error, not stay "processing"
        logger.exception("Indexing document %s failed", document_id)
        Document.objects.filter(pk=document_id).update(status=DocumentStatus.ERROR, error_message="Indexing failed on the server.")
    finally:
        connection.close()


def document_delete(*, document: Document) -> None:
    with write_transaction():
        index.unindex_chunks(list(document.chunks.values_list("pk", flat=True)))
        document.delete()


def document_get(*, user: Any, document_id: int) -> Document:
    document = Document.objects.owned_by(user).select_related("agent").filter(pk=document_id).first()
    if document is None:
        raise NotFound("Document not found.")
    return document


def knowledge_search(*, user_id: int, query: str, agent_id: int | None = None, top_k: int = 5) -> list[RetrievedChunk]:
    """The user's best passages for a query (and only the agent's documents, when given):
    the lexical ranking, fused with the vector ranking when an embeddings provider is set."""
    provider = embedding_provider()
    if provider is None:
        ranked = index.lexical_search(terms=words(query), user_id=user_id, agent_id=agent_id, limit=top_k)
    else:
        lexical = index.lexical_search(terms=words(query), user_id=user_id, agent_id=agent_id, limit=FUSION_DEPTH)
        vector = _vector_ranking(provider, query=query, user_id=user_id, agent_id=agent_id)
        ranked = reciprocal_rank_fusion([c for c, _ in lexical], vector)[:top_k]
    if not ranked:
        return []
    chunks = Chunk.objects.select_related("document").in_bulk([chunk_id for chunk_id, _ in ranked])
    results = []
    for chunk_id, score in ranked:
        chunk = chunks.get(chunk_id)
        if chunk is None:
            continue
        results.append(
            RetrievedChunk(
                document_id=chunk.document_id,
                document_name=chunk.document.name,
                chunk_index=chunk.index,
                content=chunk.content,
                score=round(score, 4),
                page=chunk.page,
                heading=chunk.heading,
            )
        )
    return results


def _vector_ranking(provider: Any, *, query: str, user_id: int, agent_id: int | None) -> list[int]:
    try:
        [query_vector] = embed_texts(provider, [query])
    except EmbeddingError:
        logger.warning("Embeddings unavailable; searching lexically only")
        return []
    scope = Chunk.objects.filter(document__user_id=user_id, document__status=DocumentStatus.READY, embedding__isnull=False)
    if agent_id is not None:
        scope = scope.filter(document__agent_id=agent_id)
    scored = [(cosine(query_vector, unpack(blob)), chunk_id) for chunk_id, blob in scope.values_list("pk", "embedding")]
    scored.sort(reverse=True)
    return [chunk_id for _, chunk_id in scored[:FUSION_DEPTH]]


def agent_has_documents(*, agent_id: int) -> bool:
    return Document.objects.filter(agent_id=agent_id, status=DocumentStatus.READY).exists()


def knowledge_retrieve(*, user_id: int, agent_id: int | None, query: str, top_k: int = 5) -> list[RetrievedChunk]:
    """Passages for a chat turn with an agent that has documents."""
    return knowledge_search(user_id=user_id, query=query, agent_id=agent_id, top_k=top_k)


def format_sources_for_prompt(chunks: list[RetrievedChunk]) -> str:
    blocks = ["Sources:"]
    for number, chunk in enumerate(chunks, start=1):
        where = ", ".join(part for part in (f"page {chunk.page}" if chunk.page else "", chunk.heading) if part)
        blocks.append(f"[{number}] {chunk.document_name}" + (f" ({where})" if where else "") + f"\n{chunk.content}")
    return "\n\n".join(blocks)


def citations_from(chunks: list[RetrievedChunk]) -> list[dict[str, Any]]:
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
