"""Search in the database's own full-text engine over jieba-segmented, stemmed text:
SQLite FTS5 ranked by its BM25, or PostgreSQL's tsvector with a GIN index ranked the BM25
way.

The database keeps the index itself (triggers on SQLite, a generated column on PostgreSQL;
see migration 0005), so writing or deleting a chunk row is all indexing takes.

SQLite ranks every match inside FTS5, which is fast; joining each match to its chunk and
document to check whose it is is what would be slow. So FTS5 gives its best few hundred,
and only those are checked against the caller's scope (more are asked for when too few
of them are the caller's). In a large index, words in more than COMMON_FRACTION of the
chunks are left out of the query (their BM25 weight is small; fts5vocab tells how common
a word is).

PostgreSQL's own rankings know nothing of how rare a word is, and rank a match only after
decompressing its vector. So a chunk scores the sum over the query's rarest words of the
word's inverse document frequency times ``ts_rank`` (its term frequency, damped by the
chunk's length), and only chunks that hold one of the query's rarer words are ranked,
about CANDIDATE_BUDGET of them (a chunk with none of them rarely beats one that has
them; when too few have them, chunks with the commoner words fill up). How rare a word is
comes from the planner's statistics of the column (``pg_stats.most_common_elems``, kept by
ANALYZE and autovacuum).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

MAX_QUERY_TERMS = 32
SQLITE_FIRST_LOOK = 200  # best FTS5 matches checked against the scope at first
COMMON_FRACTION = 0.2  # on SQLite, words in more of the chunks than this (and more than
COMMON_MINIMUM = 2000  # this many) are left out of a query
CANDIDATE_BUDGET = 500  # chunks expected to hold the words that decide which are ranked (PostgreSQL)
WIDER_BUDGET = 4000  # the same, when too few chunks hold the rarer words
SCORED_TERMS = 10  # the rarest words a chunk is scored on
SCORING_BUDGET = 3000  # word scorings per search (``ts_rank`` calls, a few µs each)
STATISTICS_TTL_SECONDS = 60.0


def lexical_search(*, terms: list[str], user_id: int, agent_id: int | None, limit: int, for_chat: bool = False) -> list[tuple[int, float]]:
    """(chunk id, score) of the best matches of any term, best first; higher is better.
    The scope is the user's documents, only the agent's when ``agent_id`` is given; with
    ``for_chat``, those a chat answers from (see ``knowledge.services.chat_documents``)."""
    terms = list(dict.fromkeys(t for t in terms if t.strip()))[:MAX_QUERY_TERMS]
    if not terms:
        return []
    scope = "d.user_id = %s AND d.status = 'ready'"
    scope_params: list[Any] = [user_id]
    if for_chat and agent_id is not None:
        scope += " AND (d.agent_id = %s OR d.agent_id IS NULL)"
        scope_params.append(agent_id)
    elif for_chat:
        scope += " AND d.agent_id IS NULL"
    elif agent_id is not None:
        scope += " AND d.agent_id = %s"
        scope_params.append(agent_id)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            return _sqlite_search(cursor, terms=terms, scope=scope, scope_params=scope_params, limit=limit)
        return _postgres_search(cursor, terms=terms, scope=scope, scope_params=scope_params, limit=limit)


def _sqlite_search(cursor: Any, *, terms: list[str], scope: str, scope_params: list[Any], limit: int) -> list[tuple[int, float]]:
    rows, frequency = _sqlite_frequencies(cursor, terms)
    # A word in a good part of many chunks adds little to BM25 but makes FTS5 score them all.
    common = {term for term in terms if frequency[term] > COMMON_FRACTION and frequency[term] * rows > COMMON_MINIMUM}
    kept = [term for term in terms if term not in common] or [min(terms, key=lambda term: frequency[term])]
    match = " OR ".join('"' + term.replace('"', '""') + '"' for term in kept)
    first = max(SQLITE_FIRST_LOOK, limit * 10)
    while True:
        cursor.execute(
            "SELECT m.id, -m.rank FROM ("
            "SELECT rowid AS id, bm25(knowledge_chunk_fts) AS rank FROM knowledge_chunk_fts "
            "WHERE knowledge_chunk_fts MATCH %s ORDER BY rank LIMIT %s"
            ") AS m JOIN knowledge_chunk c ON c.id = m.id JOIN knowledge_document d ON d.id = c.document_id "
            f"WHERE {scope} ORDER BY m.rank, m.id LIMIT %s",
            [match, first, *scope_params, limit],
        )
        found = [(int(row[0]), float(row[1])) for row in cursor.fetchall()]
        if len(found) >= limit:
            return found
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM knowledge_chunk_fts WHERE knowledge_chunk_fts MATCH %s LIMIT %s)", [match, first]
        )
        if cursor.fetchone()[0] < first:
            return found  # every match was looked at
        first *= 8


def _sqlite_frequencies(cursor: Any, terms: list[str]) -> tuple[int, dict[str, float]]:
    """How many chunks there are, and the fraction of them that hold each word (from the
    index's own vocabulary table)."""
    database = connection.settings_dict["NAME"]
    now = time.monotonic()
    with _statistics_lock:
        known = {term: _sqlite_counts.get((database, term)) for term in [*terms, ""]}
    fresh = {term: entry[1] for term, entry in known.items() if entry is not None and now - entry[0] < STATISTICS_TTL_SECONDS}
    missing = [term for term in terms if term not in fresh]
    if "" not in fresh:
        cursor.execute("SELECT COUNT(*) FROM knowledge_chunk")
        fresh[""] = cursor.fetchone()[0]
    if missing:
        cursor.execute(f"SELECT term, doc FROM knowledge_chunk_fts_terms WHERE term IN ({', '.join(['%s'] * len(missing))})", missing)
        found = dict(cursor.fetchall())
        fresh.update({term: int(found.get(term, 0)) for term in missing})
    with _statistics_lock:
        if len(_sqlite_counts) > 100_000:
            _sqlite_counts.clear()
        _sqlite_counts.update({(database, term): (now, count) for term, count in fresh.items()})
    rows = max(fresh[""], 1)
    return rows, {term: fresh[term] / rows for term in terms}


def _postgres_search(cursor: Any, *, terms: list[str], scope: str, scope_params: list[Any], limit: int) -> list[tuple[int, float]]:
    rows, frequency = _postgres_frequencies(cursor, terms)
    by_rarity = sorted(terms, key=lambda term: frequency[term])
    plan = _Plan(by_rarity, frequency, rows, scope, scope_params, limit)
    candidates = _candidates(plan, budget=CANDIDATE_BUDGET)
    # The same scoring words in every pass, so that the scores of two passes compare.
    plan.scored = by_rarity[: max(1, min(SCORED_TERMS, int(SCORING_BUDGET / max(plan.expected_rows(candidates), 1.0))))]
    found = _postgres_ranked(cursor, plan, candidates)
    if len(found) < limit and len(candidates) < len(terms):
        # Too few chunks hold the rarer words: fill up from chunks with the commoner ones.
        wider = _postgres_ranked(cursor, plan, _candidates(plan, budget=WIDER_BUDGET, at_least=len(candidates) + 1))
        best = dict(wider) | dict(found)
        found = sorted(best.items(), key=lambda pair: (-pair[1], pair[0]))[:limit]
    return found


@dataclass
class _Plan:
    by_rarity: list[str]
    frequency: dict[str, float]
    rows: float
    scope: str
    scope_params: list[Any]
    limit: int
    scored: list[str] = field(default_factory=list)  # the words a chunk is scored on (PostgreSQL)

    def expected_rows(self, terms: list[str]) -> float:
        return sum(self.frequency[term] * self.rows for term in terms)


def _candidates(plan: _Plan, *, budget: float, at_least: int = 1) -> list[str]:
    """The rarest words whose chunks add up to about ``budget`` (at least ``at_least`` words)."""
    chosen: list[str] = []
    for term in plan.by_rarity:
        if len(chosen) >= at_least and plan.expected_rows([*chosen, term]) > budget:
            break
        chosen.append(term)
    return chosen


_statistics: dict[str, _ColumnStatistics] = {}
_sqlite_counts: dict[tuple[str, str], tuple[float, int]] = {}  # (database, word or "" for all) -> (read at, chunks)
_statistics_lock = threading.Lock()


def forget_statistics() -> None:
    """Read word frequencies afresh at the next search (after a bulk load and ANALYZE)."""
    with _statistics_lock:
        _statistics.clear()
        _sqlite_counts.clear()


def chunks_added() -> None:
    """After chunks are stored: on PostgreSQL, a column that was never analysed is analysed
    now, so that search knows rare words from common ones at once rather than after
    autovacuum's next visit (which keeps the statistics fresh from then on)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        stats = _postgres_statistics(cursor)
        if not stats.listed:
            cursor.execute("ANALYZE knowledge_chunk")
            forget_statistics()


def _postgres_statistics(cursor: Any) -> _ColumnStatistics:
    database = connection.settings_dict["NAME"]
    with _statistics_lock:
        stats = _statistics.get(database)
    if stats is None or time.monotonic() - stats.read_at > STATISTICS_TTL_SECONDS:
        stats = _column_statistics(cursor)
        with _statistics_lock:
            _statistics[database] = stats
    return stats


def _postgres_frequencies(cursor: Any, terms: list[str]) -> tuple[float, dict[str, float]]:
    stats = _postgres_statistics(cursor)
    return stats.rows, {term: stats.listed.get(term, stats.unlisted) for term in terms}


def _column_statistics(cursor: Any) -> _ColumnStatistics:
    cursor.execute(
        "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples FROM pg_class c "
        "LEFT JOIN pg_stats s ON s.tablename = c.relname AND s.attname = 'search_vector' AND s.schemaname = current_schema() "
        "WHERE c.relname = 'knowledge_chunk' AND c.relnamespace = current_schema()::regnamespace"
    )
    row = cursor.fetchone()
    elements, frequencies, rows = row if row else (None, None, 0)
    if not (elements and frequencies):  # never analysed: every word alike
        return _ColumnStatistics(max(float(rows), 1.0), {}, 0.01, time.monotonic())
    # The frequencies are followed by their minimum, their maximum and the null fraction;
    # a word that is not listed is rarer than the least frequent listed one.
    listed = dict(zip(elements, frequencies[: len(elements)], strict=True))
    return _ColumnStatistics(max(float(rows), 1.0), listed, frequencies[len(elements)] / 4, time.monotonic())


def _postgres_ranked(cursor: Any, plan: _Plan, candidates: list[str]) -> list[tuple[int, float]]:
    scored = plan.scored
    cap = max(plan.limit, SCORING_BUDGET // len(scored))
    score = " + ".join(["%s * ts_rank(m.search_vector, plainto_tsquery('simple', %s), 1)"] * len(scored))
    score_params = [p for term in scored for p in (_idf(plan.frequency[term]), term)]
    match = " || ".join(["plainto_tsquery('simple', %s)"] * len(candidates))
    with transaction.atomic():
        # The planner prices ``@@`` as one cheap operator, but wherever it filters rows
        # by it (a table scan, or chunks fetched per document) it decompresses each
        # row's vector: ten to fifty times slower than asking the GIN index, and chosen
        # whenever its statistics are off or a word is common. So for this statement
        # alone: no table or plain index scans and no nested loops, which leaves the GIN
        # bitmap joined to the caller's documents by hash. The savepoint rolled back
        # below takes the settings back with it.
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; SET LOCAL enable_nestloop = off")
        cursor.execute(
            f"SELECT m.id, {score} AS score FROM ("
            f"SELECT c.id, c.search_vector FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id "
            f"WHERE c.search_vector @@ ({match}) AND {plan.scope} LIMIT %s"
            f") AS m ORDER BY score DESC, m.id LIMIT %s",
            [*score_params, *candidates, *plan.scope_params, cap, plan.limit],
        )
        found = [(int(row[0]), float(row[1])) for row in cursor.fetchall()]
        transaction.set_rollback(True)
    return found


def _idf(frequency: float) -> float:
    return math.log(1 + (1 - frequency) / frequency)


@dataclass(frozen=True)
class _ColumnStatistics:
    rows: float
    listed: dict[str, float]
    unlisted: float  # the frequency taken for a word too rare to be listed
    read_at: float
