"""Search in the database's own full-text engine over jieba-segmented, stemmed text:
SQLite FTS5 ranked by its BM25, or PostgreSQL's tsvector with a GIN index ranked the BM25
way.

The database keeps the index itself (triggers on SQLite, a generated column on PostgreSQL;
see migration 0005), so writing or deleting a chunk row is all indexing takes.

An OR of a query's words can match most of the table, and ranking every match is what
makes full-text search slow. So only chunks that contain one of the query's rarer words
are ranked (about CANDIDATE_BUDGET of them; a chunk with none of them cannot beat one
that has them), and at most CANDIDATE_CAP when every word is common. How rare a word is
comes from the index: SQLite's fts5vocab table, or PostgreSQL's planner statistics of the
column (``pg_stats.most_common_elems``, kept by ANALYZE and autovacuum).

PostgreSQL's own rankings know nothing of how rare a word is, so there a chunk scores the
sum over the query's rarest words of the word's inverse document frequency times
``ts_rank`` (its term frequency, damped by the chunk's length).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.db import connection

MAX_QUERY_TERMS = 32
SCORED_TERMS = 8
CANDIDATE_BUDGET = 1000
CANDIDATE_CAP = 4000
STATISTICS_TTL_SECONDS = 60.0


def lexical_search(*, terms: list[str], user_id: int, agent_id: int | None, limit: int) -> list[tuple[int, float]]:
    """(chunk id, score) of the best matches of any term, best first; higher is better."""
    terms = list(dict.fromkeys(t for t in terms if t.strip()))[:MAX_QUERY_TERMS]
    if not terms:
        return []
    scope = "d.user_id = %s AND d.status = 'ready'"
    scope_params: list[Any] = [user_id]
    if agent_id is not None:
        scope += " AND d.agent_id = %s"
        scope_params.append(agent_id)
    with connection.cursor() as cursor:
        backend = _SQLite(cursor) if connection.vendor == "sqlite" else _PostgreSQL(cursor)
        rows, frequency = backend.frequencies(terms)
        by_rarity = sorted(terms, key=lambda term: frequency[term])
        candidates = _candidates(by_rarity, frequency, rows)
        found = backend.ranked(candidates=candidates, scored=by_rarity, frequency=frequency, scope=(scope, scope_params), limit=limit)
        if len(found) < limit and len(candidates) < len(terms):
            # Too few chunks have the rarer words: any word will do.
            found = backend.ranked(candidates=by_rarity, scored=by_rarity, frequency=frequency, scope=(scope, scope_params), limit=limit)
        return found


def _candidates(by_rarity: list[str], frequency: dict[str, float], rows: float) -> list[str]:
    """The rarest words whose chunks add up to about CANDIDATE_BUDGET (at least one word)."""
    chosen: list[str] = []
    expected = 0.0
    for term in by_rarity:
        if chosen and expected + frequency[term] * rows > CANDIDATE_BUDGET:
            break
        chosen.append(term)
        expected += frequency[term] * rows
    return chosen


class _TTLCache:
    """Values that may be a little stale: document frequencies move slowly."""

    def __init__(self) -> None:
        self._values: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        with self._lock:
            entry = self._values.get(key)
        if entry is None or time.monotonic() - entry[0] > STATISTICS_TTL_SECONDS:
            return None
        return entry[1]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            if len(self._values) > 100_000:
                self._values.clear()
            self._values[key] = (time.monotonic(), value)


_sqlite_cache = _TTLCache()
_postgres_cache = _TTLCache()


class _SQLite:
    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def frequencies(self, terms: list[str]) -> tuple[float, dict[str, float]]:
        database = connection.settings_dict["NAME"]
        rows = _sqlite_cache.get((database, None))
        if rows is None:
            self.cursor.execute("SELECT COUNT(*) FROM knowledge_chunk")
            rows = max(float(self.cursor.fetchone()[0]), 1.0)
            _sqlite_cache.put((database, None), rows)
        counts: dict[str, int] = {}
        for term in terms:
            cached = _sqlite_cache.get((database, term))
            if cached is not None:
                counts[term] = cached
        missing = [term for term in terms if term not in counts]
        if missing:
            self.cursor.execute(
                f"SELECT term, doc FROM knowledge_chunk_fts_terms WHERE term IN ({', '.join(['%s'] * len(missing))})", missing
            )
            found = dict(self.cursor.fetchall())
            for term in missing:
                counts[term] = int(found.get(term, 0))
                _sqlite_cache.put((database, term), counts[term])
        return rows, {term: max(counts[term], 0.5) / rows for term in terms}

    def ranked(
        self, *, candidates: list[str], scored: list[str], frequency: dict[str, float], scope: tuple[str, list[Any]], limit: int
    ) -> list[tuple[int, float]]:
        match = " OR ".join('"' + term.replace('"', '""') + '"' for term in candidates)
        self.cursor.execute(
            "SELECT id, score FROM ("
            "SELECT c.id AS id, -bm25(knowledge_chunk_fts) AS score FROM knowledge_chunk_fts "
            "JOIN knowledge_chunk c ON c.id = knowledge_chunk_fts.rowid JOIN knowledge_document d ON d.id = c.document_id "
            f"WHERE knowledge_chunk_fts MATCH %s AND {scope[0]} LIMIT %s"
            ") ORDER BY score DESC, id LIMIT %s",
            [match, *scope[1], CANDIDATE_CAP, limit],
        )
        return [(int(row[0]), float(row[1])) for row in self.cursor.fetchall()]


class _PostgreSQL:
    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def frequencies(self, terms: list[str]) -> tuple[float, dict[str, float]]:
        stats = _postgres_cache.get(connection.settings_dict["NAME"])
        if stats is None:
            stats = self._statistics()
            _postgres_cache.put(connection.settings_dict["NAME"], stats)
        return stats.rows, {term: stats.listed.get(term, stats.unlisted) for term in terms}

    def _statistics(self) -> _ColumnStatistics:
        self.cursor.execute(
            "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples FROM pg_class c "
            "LEFT JOIN pg_stats s ON s.tablename = c.relname AND s.attname = 'search_vector' AND s.schemaname = current_schema() "
            "WHERE c.relname = 'knowledge_chunk' AND c.relnamespace = current_schema()::regnamespace"
        )
        row = self.cursor.fetchone()
        elements, frequencies, rows = row if row else (None, None, 0)
        if not (elements and frequencies):  # never analysed: every word alike
            return _ColumnStatistics(max(float(rows), 1.0), {}, 0.01)
        # The frequencies are followed by their minimum, their maximum and the null fraction;
        # a word that is not listed is rarer than the least frequent listed one.
        listed = dict(zip(elements, frequencies[: len(elements)], strict=True))
        return _ColumnStatistics(max(float(rows), 1.0), listed, frequencies[len(elements)] / 4)

    def ranked(
        self, *, candidates: list[str], scored: list[str], frequency: dict[str, float], scope: tuple[str, list[Any]], limit: int
    ) -> list[tuple[int, float]]:
        scored = scored[:SCORED_TERMS]
        score = " + ".join(["%s * ts_rank(m.search_vector, plainto_tsquery('simple', %s), 1)"] * len(scored))
        score_params = [p for term in scored for p in (math.log(1 + (1 - frequency[term]) / frequency[term]), term)]
        match = " || ".join(["plainto_tsquery('simple', %s)"] * len(candidates))
        self.cursor.execute(
            f"SELECT m.id, {score} AS score FROM ("
            f"SELECT c.id, c.search_vector FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id "
            f"WHERE c.search_vector @@ ({match}) AND {scope[0]} LIMIT %s"
            f") AS m ORDER BY score DESC, m.id LIMIT %s",
            [*score_params, *candidates, *scope[1], CANDIDATE_CAP, limit],
        )
        return [(int(row[0]), float(row[1])) for row in self.cursor.fetchall()]


@dataclass(frozen=True)
class _ColumnStatistics:
    rows: float
    listed: dict[str, float]
    unlisted: float
