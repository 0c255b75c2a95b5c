"""Lexical search: BM25 over statistics the index keeps itself, the same on SQLite and on
PostgreSQL whatever the planner knows.

The words. A chunk's ``search_text`` is its words (see knowledge.segment), each one token
to both databases, so both count the same words. The database keeps the index itself,
whichever way chunks are written or deleted (migrations 0005 and 0007):

- SQLite: FTS5 over ``search_text`` (it keeps how many chunks hold each word, how many
  chunks and how many words there are, in the same transaction as the chunks), and a
  second FTS5 table over ``boost_text``;
- PostgreSQL: a GIN-indexed ``search_vector`` and ``boost_vector``, the chunk's length in
  ``word_count``, and statement triggers that keep ``knowledge_term`` (chunks per word)
  and ``knowledge_index_stats`` (chunks and words in all) in the same transaction.

The score. BM25 with k1 = 1.2 and b = 0.75 and the inverse document frequency of SQLite's
FTS5 (``log((N - n + 0.5) / (n + 0.5))``, at least 1e-6), computed here in Python from
those statistics and the chunk's own words, so a query scores every chunk alike on both
databases. Statistics are global (all users' chunks); results are only the caller's.

Which chunks are scored. Scoring a chunk costs reading its words (a few µs), so a query
scores the chunks that can rank first, chosen from the index without reading any chunk:

- the query's essential words are its rarest, up to ESSENTIAL_TERMS of them, leaving out
  words in more than COMMON_FRACTION of the chunks (unless every word is that common: then
  the rarest). Other words still add to the score of every chunk scored;
- when the essential words are in at most EXHAUSTIVE_ROWS chunks together, all those
  chunks are scored;
- otherwise the chunks that hold at least two essential words, or one in its boost form (a
  word that occurs BOOST_MIN_COUNT (3) times or more in the chunk, or any word of a chunk
  of at most SHORT_CHUNK_WORDS (40) words: see ``segment.boost_text``); all chunks of the
  essential words when that gives fewer than asked for. A chunk left out holds one
  essential word, at most twice, in a chunk of more than 40 words: BM25 gives it at most
  about 1.8 times that word's weight, where the chunks scored hold two rare words or one
  three times;
- then MaxScore's bound: a chunk without an essential word scores at most the sum of the
  other words' bounds (idf * (k1 + 1)). While the k-th score is below it, the next rarest
  word's chunks are scored too, as long as that keeps the chunks scored within
  EXPANSION_ROWS (past that the result stands as measured rather than proven).

bench/knowledge.py checks the result against scoring every chunk that holds any query
word (``exhaustive=True``) and prints how many searches agree.

Ties are broken by chunk id, so the order is total and the same on both databases.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from knowledge.segment import SHORT_CHUNK_WORDS

K1 = 1.2
B = 0.75
MAX_QUERY_TERMS = 32
ESSENTIAL_TERMS = 10  # at most this many of the rarest words bring chunks in (45 pairs)
COMMON_FRACTION = 0.05  # words in more of the chunks than this do not bring chunks in
EXHAUSTIVE_ROWS = 300  # essential words in at most this many chunks: score them all
EXPANSION_ROWS = 1000  # chunks scored at most to bring in the chunks of commoner words


@dataclass(frozen=True)
class Statistics:
    """What BM25 needs to know about the whole index."""

    chunks: int
    words: int
    frequency: dict[str, int]  # chunks that hold each word

    @property
    def average_length(self) -> float:
        return self.words / self.chunks if self.chunks else 0.0

    def idf(self, term: str) -> float:
        """FTS5's inverse document frequency (never below 1e-6)."""
        held = self.frequency.get(term, 0)
        value = math.log((self.chunks - held + 0.5) / (held + 0.5)) if self.chunks else 0.0
        return value if value > 0 else 1e-6


def bm25_scorer(statistics: Statistics, terms: list[str]) -> Callable[[str], float]:
    """A function giving a chunk's BM25 for the query words, in ``terms`` order (the sum's
    order is fixed so that both databases add up the same floats), from the chunk's
    ``search_text``: its words joined by single spaces.

    Everything that depends only on the query (each word's idf and the strings searched
    for) is computed here once: a search scores thousands of chunks with it."""
    average = statistics.average_length or 1.0
    words = [(f" {term} ", f" {term} {term} ", term, statistics.idf(term)) for term in terms]

    def score(search_text: str) -> float:
        length = search_text.count(" ") + 1 if search_text else 0
        norm = K1 * (1 - B + B * length / average)
        padded = f" {search_text} "
        total = 0.0
        for spaced, repeated, term, idf in words:
            # A substring count is ten times faster than splitting; it misses a word
            # repeated straight after itself, which is then counted the slow way.
            tf = padded.count(spaced)
            if tf:
                if repeated in padded:
                    tf = padded.split(" ").count(term)
                total += idf * (tf * (K1 + 1)) / (tf + norm)
        return total

    return score


def lexical_search(
    *, terms: list[str], user_id: int, agent_id: int | None, limit: int, for_chat: bool = False, exhaustive: bool = False
) -> list[tuple[int, float]]:
    """(chunk id, score) of the best BM25 matches of any term, best first.

    The scope is the user's documents, only the agent's when ``agent_id`` is given; with
    ``for_chat``, those a chat answers from (see ``knowledge.services.chat_documents``).
    ``exhaustive`` scores every chunk in scope that holds any of the words (for checking
    the pruning; slow on a large index)."""
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
    engine: _Engine = _SQLite() if connection.vendor == "sqlite" else _PostgreSQL()
    with connection.cursor() as cursor:
        stats = engine.statistics(cursor, terms)
        present = sorted((t for t in terms if stats.frequency.get(t)), key=lambda t: (stats.frequency[t], t))
        if not present:
            return []
        scored: dict[int, float] = {}
        bm25 = bm25_scorer(stats, present)

        def score(plan: _Candidates) -> None:
            for chunk_id, search_text in engine.candidates(cursor, plan, scope, scope_params, exclude=scored.keys()):
                scored[chunk_id] = bm25(search_text or "")

        if exhaustive:
            score(_Candidates(any_of=present))
            return _best(scored, limit)
        common = stats.chunks * COMMON_FRACTION
        essential = [t for t in present if stats.frequency[t] <= common][:ESSENTIAL_TERMS] or present[:1]
        pruned: list[str] = []  # essential words whose chunks were not all scored
        if sum(stats.frequency[t] for t in essential) > EXHAUSTIVE_ROWS:
            score(_Candidates(pairs_of=essential, boosted=essential))
            pruned = list(essential)
        if len(scored) < limit:
            score(_Candidates(any_of=essential))
            pruned = []
        # MaxScore: a chunk not scored yet holds at most one of the pruned words (at most
        # twice, in a chunk longer than SHORT_CHUNK_WORDS) and any of the others. While
        # that bound could beat the k-th score, the chunks of the word that adds most to
        # it are scored too, within EXPANSION_ROWS (past that the result stands as
        # measured, not proven).
        rest = [t for t in present if t not in essential]
        twice = _saturation(stats, tf=2, length=SHORT_CHUNK_WORDS + 1)
        while pruned or rest:
            best = _best(scored, limit)
            threshold = best[-1][1] if len(best) == limit else 0.0
            strongest = max(pruned, key=stats.idf, default=None)
            one_pruned = stats.idf(strongest) * twice if strongest else 0.0
            if threshold >= one_pruned + sum(stats.idf(t) * (K1 + 1) for t in rest):
                break
            if strongest and (not rest or one_pruned >= stats.idf(rest[0]) * (K1 + 1)):
                term = strongest
                pruned.remove(term)
            else:
                term = rest.pop(0)
            if len(best) == limit and len(scored) + stats.frequency[term] > EXPANSION_ROWS:
                break
            score(_Candidates(any_of=[term]))
    return _best(scored, limit)


def _saturation(statistics: Statistics, *, tf: int, length: int) -> float:
    """BM25's term-frequency factor for ``tf`` occurrences in a chunk of ``length`` words."""
    norm = K1 * (1 - B + B * length / (statistics.average_length or 1.0))
    return tf * (K1 + 1) / (tf + norm)


def _best(scored: dict[int, float], limit: int) -> list[tuple[int, float]]:
    return sorted(scored.items(), key=lambda pair: (-pair[1], pair[0]))[:limit]


@dataclass(frozen=True)
class _Candidates:
    """Chunks that hold any of ``any_of``; or at least two of ``pairs_of``, or one of
    ``boosted`` in its boost form."""

    any_of: list[str] | None = None
    pairs_of: list[str] | None = None
    boosted: list[str] | None = None


class _Engine:
    def statistics(self, cursor: Any, terms: list[str]) -> Statistics:
        raise NotImplementedError

    def candidates(self, cursor: Any, plan: _Candidates, scope: str, scope_params: list[Any], exclude: Any) -> list[tuple[int, str]]:
        """(id, search_text) of the chunks in scope the plan brings in, but those excluded."""
        rows = self._candidates(cursor, plan, scope, scope_params)
        return [(int(row[0]), row[1]) for row in rows if row[0] not in exclude]

    def _candidates(self, cursor: Any, plan: _Candidates, scope: str, scope_params: list[Any]) -> list[tuple[int, str]]:
        raise NotImplementedError


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


class _SQLite(_Engine):
    def statistics(self, cursor: Any, terms: list[str]) -> Statistics:
        # FTS5's own totals: the "averages" record (id 1) of its data table holds the
        # number of rows and of tokens as varints.
        cursor.execute("SELECT block FROM knowledge_chunk_fts_data WHERE id = 1")
        row = cursor.fetchone()
        chunks, words = _varints(bytes(row[0]), 2) if row and row[0] else (0, 0)
        cursor.execute(f"SELECT term, doc FROM knowledge_chunk_fts_terms WHERE term IN ({', '.join(['%s'] * len(terms))})", terms)
        return Statistics(chunks, words, {term: int(doc) for term, doc in cursor.fetchall()})

    def _candidates(self, cursor: Any, plan: _Candidates, scope: str, scope_params: list[Any]) -> list[tuple[int, str]]:
        # FTS5 lists a word's rows fast, and evaluates many ANDs slowly; so the rows of
        # each word are read and those with two words are counted here.
        found: set[int] = set()
        if plan.any_of:
            found |= self._rowids(cursor, "knowledge_chunk_fts", plan.any_of)
        if plan.pairs_of and len(plan.pairs_of) > 1:
            held: Counter[int] = Counter()
            for term in plan.pairs_of:
                held.update(self._rowids(cursor, "knowledge_chunk_fts", [term]))
            found |= {rowid for rowid, words in held.items() if words > 1}
        if plan.boosted:
            found |= self._rowids(cursor, "knowledge_chunk_boost", plan.boosted)
        if not found:
            return []
        # The matches drive the join (CROSS JOIN keeps that order), so that only their
        # chunk rows are read.
        cursor.execute(
            "SELECT c.id, c.search_text FROM json_each(%s) AS m CROSS JOIN knowledge_chunk c ON c.id = m.value "
            f"JOIN knowledge_document d ON d.id = c.document_id WHERE {scope}",
            [json.dumps(sorted(found)), *scope_params],
        )
        return cursor.fetchall()

    @staticmethod
    def _rowids(cursor: Any, table: str, terms: list[str]) -> set[int]:
        cursor.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH %s", [" OR ".join(_quoted(t) for t in terms)])
        return {row[0] for row in cursor.fetchall()}


def _varints(data: bytes, count: int) -> list[int]:
    """The first ``count`` SQLite varints of ``data`` (big-endian, 7 bits a byte, the
    ninth byte whole)."""
    values: list[int] = []
    position = 0
    while len(values) < count and position < len(data):
        value = 0
        for index in range(9):
            byte = data[position]
            position += 1
            if index == 8:
                value = (value << 8) | byte
                break
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        values.append(value)
    return values + [0] * (count - len(values))


class _PostgreSQL(_Engine):
    def statistics(self, cursor: Any, terms: list[str]) -> Statistics:
        cursor.execute("SELECT chunks, words FROM knowledge_index_stats WHERE id = 1")
        row = cursor.fetchone()
        chunks, words = (int(row[0]), int(row[1])) if row else (0, 0)
        cursor.execute("SELECT word, chunks FROM knowledge_term WHERE word = ANY(%s) AND chunks > 0", [terms])
        return Statistics(chunks, words, {term: int(held) for term, held in cursor.fetchall()})

    def _candidates(self, cursor: Any, plan: _Candidates, scope: str, scope_params: list[Any]) -> list[tuple[int, str]]:
        conditions: list[str] = []
        params: list[Any] = []
        if plan.any_of:
            conditions.append("c.search_vector @@ to_tsquery('simple', %s)")
            params.append(" | ".join(_lexeme(t) for t in plan.any_of))
        if plan.pairs_of and len(plan.pairs_of) > 1:
            conditions.append("c.search_vector @@ to_tsquery('simple', %s)")
            params.append(" | ".join(f"({_lexeme(a)} & {_lexeme(b)})" for a, b in itertools.combinations(plan.pairs_of, 2)))
        if plan.boosted:
            conditions.append("c.boost_vector @@ to_tsquery('simple', %s)")
            params.append(" | ".join(_lexeme(t) for t in plan.boosted))
        with transaction.atomic():
            # Whatever the planner's statistics say (none, right after a bulk load), only
            # the GIN indexes find chunks: a scan that tests ``@@`` row by row would
            # decompress every vector. The savepoint rolled back below takes the settings
            # back with it.
            cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; SET LOCAL enable_nestloop = off")
            cursor.execute(
                "SELECT c.id, c.search_text FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id "
                f"WHERE ({' OR '.join(conditions)}) AND {scope}",
                [*params, *scope_params],
            )
            rows = cursor.fetchall()
            transaction.set_rollback(True)
        return rows


def _lexeme(term: str) -> str:
    """A word as a tsquery operand, quoted so that no character of it is an operator."""
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"
