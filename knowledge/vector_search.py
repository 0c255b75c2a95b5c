"""The dense half of hybrid search: cosine similarity of the query against every chunk
vector in scope, as one matrix product.

A scope's vectors are read from the database once and kept in this process while the
scope's documents are unchanged (the fingerprint: how many ready documents there are,
their ids and their latest change), within LUXX_VECTOR_CACHE_MB.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Count, Max, Q, Sum

from knowledge.models import Chunk, Document, DocumentStatus


@dataclass(frozen=True)
class _Matrix:
    fingerprint: tuple[object, ...]
    chunk_ids: np.ndarray
    vectors: np.ndarray  # (chunks, dimensions) float32, rows L2-normalised

    @property
    def nbytes(self) -> int:
        return int(self.chunk_ids.nbytes + self.vectors.nbytes)


_cache: OrderedDict[tuple[int, int | None, bool], _Matrix] = OrderedDict()
_lock = threading.Lock()


def nearest_chunks(*, query_vector: list[float], user_id: int, agent_id: int | None, limit: int, for_chat: bool = False) -> list[int]:
    """Ids of the chunks most similar to the query, best first; only positive similarity.
    The scope is as in ``knowledge.index.lexical_search``."""
    matrix = _matrix(user_id=user_id, agent_id=agent_id, for_chat=for_chat)
    if not len(matrix.chunk_ids) or matrix.vectors.shape[1] != len(query_vector):
        return []
    similarity = matrix.vectors @ np.asarray(query_vector, dtype=np.float32)
    count = min(limit, len(similarity))
    best = np.argpartition(-similarity, count - 1)[:count]
    best = best[np.argsort(-similarity[best], kind="stable")]
    return [int(matrix.chunk_ids[i]) for i in best if similarity[i] > 0]


def _documents(*, user_id: int, agent_id: int | None, for_chat: bool):  # type: ignore[no-untyped-def]
    documents = Document.objects.filter(user_id=user_id, status=DocumentStatus.READY)
    if for_chat:
        unattached = Q(agent__isnull=True)
        return documents.filter(unattached | Q(agent_id=agent_id) if agent_id is not None else unattached)
    return documents.filter(agent_id=agent_id) if agent_id is not None else documents


def _matrix(*, user_id: int, agent_id: int | None, for_chat: bool) -> _Matrix:
    documents = _documents(user_id=user_id, agent_id=agent_id, for_chat=for_chat)
    stats = documents.aggregate(n=Count("id"), ids=Sum("id"), changed=Max("updated_at"))
    fingerprint = (stats["n"], stats["ids"], stats["changed"])
    key = (user_id, agent_id, for_chat)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached.fingerprint == fingerprint:
            _cache.move_to_end(key)
            return cached
    rows = Chunk.objects.filter(document__in=documents, embedding__isnull=False).values_list("pk", "embedding")
    ids: list[int] = []
    blobs: list[bytes] = []
    for chunk_id, blob in rows.iterator(chunk_size=2000):
        ids.append(chunk_id)
        blobs.append(bytes(blob or b""))
    dimensions = len(blobs[0]) // 4 if blobs else 0
    if blobs and any(len(blob) != dimensions * 4 for blob in blobs):
        # Vectors of another model (the provider changed) cannot be compared with these.
        keep = [i for i, blob in enumerate(blobs) if len(blob) == dimensions * 4]
        ids, blobs = [ids[i] for i in keep], [blobs[i] for i in keep]
    vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), dimensions) if blobs else np.zeros((0, 0), np.float32)
    matrix = _Matrix(fingerprint, np.asarray(ids, dtype=np.int64), vectors)
    _remember(key, matrix)
    return matrix


def _remember(key: tuple[int, int | None, bool], matrix: _Matrix) -> None:
    budget = settings.LUXX_VECTOR_CACHE_MB * 1024 * 1024
    with _lock:
        _cache.pop(key, None)
        if matrix.nbytes > budget:
            return
        _cache[key] = matrix
        while sum(m.nbytes for m in _cache.values()) > budget:
            _cache.popitem(last=False)
