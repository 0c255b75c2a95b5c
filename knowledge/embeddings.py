"""Dense vectors from an OpenAI-compatible embeddings endpoint (optional).

When LUXX_EMBEDDINGS_PROVIDER_ID names a provider, every chunk gets a vector at upload and
search fuses the vector ranking with the lexical one by reciprocal rank fusion.
"""

from __future__ import annotations

import math
import struct

import httpx
from django.conf import settings

from agents.models import Provider
from agents.runtime import CallUsage
from luxx.text import estimate_tokens
from usage.models import UsageKind
from usage.services import LedgerEntry, usage_record

BATCH = 64
TIMEOUT_SECONDS = 60.0


class EmbeddingError(Exception):
    pass


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


def pack(vector: list[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


def reciprocal_rank_fusion(*rankings: list[int], k: int = 60) -> list[tuple[int, float]]:
    """Fuse ranked id lists: each id scores the sum of 1 / (k + rank) over the lists."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: pair[1], reverse=True)
