"""Dense vectors for hybrid search (optional), from one of two embedders:

- ``provider``: an OpenAI-compatible embeddings endpoint (LUXX_EMBEDDINGS_PROVIDER_ID),
  each call recorded in the usage ledger;
- ``local``: all-MiniLM-L6-v2 run in this process (``knowledge.local_model``), offline.

A document's chunks get their vectors after it is searchable by words, in a background
task (``knowledge.tasks.embed_document``); search fuses the vector ranking with the
lexical one by score (``hybrid_fusion``).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Protocol

import httpx
from django.conf import settings

from agents.models import Provider
from agents.runtime import CallUsage
from knowledge.errors import EmbeddingError
from luxx.text import estimate_tokens
from usage.models import UsageKind
from usage.services import LedgerEntry, usage_record

BATCH = 64
TIMEOUT_SECONDS = 60.0


class Embedder(Protocol):
    @property
    def model(self) -> str: ...

    def embed(self, texts: list[str], *, user_id: int | None = None, document_id: int | None = None) -> list[list[float]]:
        """One unit vector per text (a query's); EmbeddingError when they cannot be made now."""
        ...

    def embed_passages(self, texts: list[str], *, user_id: int | None = None, document_id: int | None = None) -> list[list[list[float]]]:
        """One or more unit vectors per text (a chunk's: one per part the model reads)."""
        ...

    def understands(self, query: str) -> bool:
        """Whether the query's vector means anything (a model that knows its language)."""
        ...


@dataclass(frozen=True)
class ProviderEmbedder:
    provider: Provider
    model: str

    def embed(self, texts: list[str], *, user_id: int | None = None, document_id: int | None = None) -> list[list[float]]:
        return embed_texts(self.provider, texts, user_id=user_id, document_id=document_id)

    def embed_passages(self, texts: list[str], *, user_id: int | None = None, document_id: int | None = None) -> list[list[list[float]]]:
        return [[vector] for vector in self.embed(texts, user_id=user_id, document_id=document_id)]

    def understands(self, query: str) -> bool:
        return True


@dataclass(frozen=True)
class LocalEmbedder:
    model: str = "all-MiniLM-L6-v2"
    # A query more than this share of whose word pieces the model does not know (Chinese,
    # for this English model) is searched by words alone.
    unknown_limit: float = 0.5

    def embed(self, texts: list[str], *, user_id: int | None = None, document_id: int | None = None) -> list[list[float]]:
        from knowledge.local_model import local_model

        return [row.tolist() for row in local_model().encode(texts)]

    def embed_passages(self, texts: list[str], *, user_id: int | None = None, document_id: int | None = None) -> list[list[list[float]]]:
        from knowledge.local_model import local_model

        return [windows.tolist() for windows in local_model().encode_passages(texts)]

    def understands(self, query: str) -> bool:
        from knowledge.local_model import local_model

        try:
            return local_model().unknown_share(query) <= self.unknown_limit
        except EmbeddingError:
            return False  # not installed: words alone (the documents' tasks report it)


def embedder() -> Embedder | None:
    """The configured embedder (LUXX_EMBEDDINGS), or None: lexical search only."""
    if settings.LUXX_EMBEDDINGS == "local":
        return LocalEmbedder()
    provider = embedding_provider() if settings.LUXX_EMBEDDINGS == "provider" else None
    return ProviderEmbedder(provider, settings.LUXX_EMBEDDINGS_MODEL) if provider is not None else None


def embedding_provider() -> Provider | None:
    provider_id = settings.LUXX_EMBEDDINGS_PROVIDER_ID
    if not provider_id:
        return None
    return Provider.objects.filter(pk=provider_id, enabled=True).first()


def embed_texts(provider: Provider, texts: list[str], *, user_id: int | None = None, document_id: int | None = None) -> list[list[float]]:
    """Vectors of ``texts``; with ``user_id``, each request is recorded in the usage
    ledger for that user (and document)."""
    headers = {"Authorization": f"Bearer {provider.api_key}"} if provider.api_key else {}
    url = provider.base_url.rstrip("/") + "/embeddings"
    vectors: list[list[float]] = []
    calls: list[CallUsage] = []
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
            for start in range(0, len(texts), BATCH):
                batch = texts[start : start + BATCH]
                try:
                    response = client.post(
                        url, json={"model": settings.LUXX_EMBEDDINGS_MODEL, "input": batch, "encoding_format": "float"}, headers=headers
                    )
                    response.raise_for_status()
                    body = response.json()
                    data = sorted(body["data"], key=lambda item: item["index"])
                except (httpx.HTTPError, KeyError, ValueError) as error:
                    raise EmbeddingError(f"The embeddings provider failed: {type(error).__name__}.") from None
                vectors.extend(_normalised(item["embedding"]) for item in data)
                reported = (body.get("usage") or {}).get("prompt_tokens")
                tokens = int(reported) if reported is not None else sum(estimate_tokens(text) for text in batch)
                calls.append(CallUsage(tokens, 0, 0, reported is None))
    finally:
        if user_id is not None and calls:
            usage_record(
                LedgerEntry(
                    user_id=user_id,
                    provider_id=provider.pk,
                    model=settings.LUXX_EMBEDDINGS_MODEL,
                    kind=UsageKind.EMBEDDING,
                    calls=calls,
                    document_id=document_id,
                )
            )
    return vectors


def _normalised(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def pack(vectors: list[list[float]]) -> bytes:
    """A chunk's vectors, one after another, as little-endian float32."""
    flat = [value for vector in vectors for value in vector]
    return struct.pack(f"<{len(flat)}f", *flat)


def hybrid_fusion(lexical: list[tuple[int, float]], vector: list[tuple[int, float]], *, weight: float) -> list[tuple[int, float]]:
    """Fuse the two rankings by score: a chunk scores its BM25 score divided by the best
    one's (so 1 at most) plus ``weight`` times its cosine similarity to the query (when
    positive); best first, ties by id.

    Scores, not ranks: where the words single out one passage clearly, a vector ranking
    that disagrees cannot push it down, as it could with reciprocal rank fusion (measured:
    bench/knowledge.py --embeddings local)."""
    scores: dict[int, float] = {}
    best = lexical[0][1] if lexical and lexical[0][1] > 0 else 1.0
    for chunk_id, score in lexical:
        scores[chunk_id] = score / best
    for chunk_id, similarity in vector:
        scores[chunk_id] = scores.get(chunk_id, 0.0) + weight * max(similarity, 0.0)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
