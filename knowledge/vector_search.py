"""The dense half of hybrid search: cosine similarity of the query against every chunk
vector in scope, as one matrix product. A chunk may have several vectors (one per part of
it the model reads): it scores its best.

Only vectors of the query's model are compared (``Chunk.embedding_model``). A scope's
vectors are read from the database once and kept in this process while the
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
    chunk_ids: np.ndarray  # the chunk of each row
    vectors: np.ndarray  # (rows, dimensions) float32, rows L2-normalised

    @property
    def nbytes(self) -> int:
        return int(self.chunk_ids.nbytes + self.vectors.nbytes)


_Key = tuple[int, int | None, bool, str, int]
_cache: OrderedDict[_Key, _Matrix] = OrderedDict()
_lock = threading.Lock()


def nearest_chunks(
    *, query_vector: list[float], model: str, user_id: int, agent_id: int | None, limit: int, for_chat: bool = False
) -> list[tuple[int, float]]:
    """(chunk id, cosine similarity) of the chunks most similar to the query, best first;
    only positive similarity. The scope is as in ``knowledge.index.lexical_search``."""
    matrix = _matrix(user_id=user_id, agent_id=agent_id, for_chat=for_chat, model=model, dimensions=len(query_vector))
    if not len(matrix.chunk_ids):
        return []
    similarity = matrix.vectors @ np.asarray(query_vector, dtype=np.float32)
    # The best rows first; enough of them for ``limit`` chunks unless chunks have many rows.
    count = min(len(similarity), limit * 4)
    rows = np.argpartition(-similarity, count - 1)[:count]
    rows = rows[np.argsort(-similarity[rows], kind="stable")]
    if len(set(matrix.chunk_ids[rows].tolist())) < limit:
        rows = np.argsort(-similarity, kind="stable")
    found: dict[int, float] = {}
    for row in rows:
        if similarity[row] <= 0 or len(found) == limit:
            break
        found.setdefault(int(matrix.chunk_ids[row]), float(similarity[row]))
    return list(found.items())


def _documents(*, user_id: int, agent_id: int | None, for_chat: bool):  # type: ignore[no-untyped-def]
    documents = Document.objects.filter(user_id=user_id, status=DocumentStatus.READY)
    if for_chat:
        unattached = Q(agent__isnull=True)
        return documents.filter(unattached | Q(agent_id=agent_id) if agent_id is not None else unattached)
    return documents.filter(agent_id=agent_id) if agent_id is not None else documents


def _matrix(*, user_id: int, agent_id: int | None, for_chat: bool, model: str, dimensions: int) -> _Matrix:
    documents = _documents(user_id=user_id, agent_id=agent_id, for_chat=for_chat)
    stats = documents.aggregate(n=Count("id"), ids=Sum("id"), changed=Max("updated_at"))
    fingerprint = (stats["n"], stats["ids"], stats["changed"])
    key = (user_id, agent_id, for_chat, model, dimensions)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached.fingerprint == fingerprint:
            _cache.move_to_end(key)
            return cached
    rows = Chunk.objects.filter(document__in=documents, embedding__isnull=False, embedding_model=model).values_list("pk", "embedding")
    ids: list[int] = []
    blobs: list[bytes] = []
    width = dimensions * 4
    for chunk_id, blob in rows.iterator(chunk_size=2000):
        data = bytes(blob or b"")
        if width and data and len(data) % width == 0:
            ids.extend([chunk_id] * (len(data) // width))
            blobs.append(data)
    rows_read = len(ids)
    vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(rows_read, dimensions) if ids else np.zeros((0, dimensions), np.float32)
    matrix = _Matrix(fingerprint, np.asarray(ids, dtype=np.int64), vectors)
    _remember(key, matrix)
    return matrix


def _remember(key: _Key, matrix: _Matrix) -> None:
    budget = settings.LUXX_VECTOR_CACHE_MB * 1024 * 1024
    with _lock:
        _cache.pop(key, None)
        if matrix.nbytes > budget:
            return
        _cache[key] = matrix
        while sum(m.nbytes for m in _cache.values()) > budget:
            _cache.popitem(last=False)
