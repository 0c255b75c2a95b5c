"""The lexical index in the database's own full-text engine: SQLite FTS5 (BM25 ranking)
or PostgreSQL's tsvector/GIN (ts_rank_cd), over jieba-segmented text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection

MAX_QUERY_TERMS = 32


def index_chunks(chunk_rows: Sequence[tuple[int, str]]) -> None:
    """Add (chunk id, segmented text) rows to the index."""
    if not chunk_rows:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.executemany("INSERT INTO knowledge_chunk_fts(rowid, search_text) VALUES (%s, %s)", list(chunk_rows))
        elif connection.vendor == "postgresql":
            ids = [row[0] for row in chunk_rows]
            cursor.execute("UPDATE knowledge_chunk SET search_vector = to_tsvector('simple', search_text) WHERE id = ANY(%s)", [ids])


def unindex_chunks(chunk_ids: Sequence[int]) -> None:
    if not chunk_ids or connection.vendor != "sqlite":
        return  # on PostgreSQL the vector lives in the chunk row and goes with it
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM knowledge_chunk_fts WHERE rowid IN ({','.join(['%s'] * len(chunk_ids))})", list(chunk_ids))


def lexical_search(*, terms: list[str], user_id: int, agent_id: int | None, limit: int) -> list[tuple[int, float]]:
    """(chunk id, score) of the best matches of any term, best first; higher is better."""
    terms = list(dict.fromkeys(t for t in terms if t.strip()))[:MAX_QUERY_TERMS]
    if not terms:
        return []
    scope = "d.user_id = %s AND d.status = 'ready'"
    params: list[Any] = [user_id]
    if agent_id is not None:
        scope += " AND d.agent_id = %s"
        params.append(agent_id)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            match = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
            cursor.execute(
                "SELECT c.id, -bm25(knowledge_chunk_fts) AS score FROM knowledge_chunk_fts "
                "JOIN knowledge_chunk c ON c.id = knowledge_chunk_fts.rowid "
                "JOIN knowledge_document d ON d.id = c.document_id "
                f"WHERE knowledge_chunk_fts MATCH %s AND {scope} ORDER BY bm25(knowledge_chunk_fts) LIMIT %s",
                [match, *params, limit],
            )
        else:
            query = " || ".join(["plainto_tsquery('simple', %s)"] * len(terms))
            cursor.execute(
                f"SELECT c.id, ts_rank_cd(c.search_vector, q) AS score FROM knowledge_chunk c "
                f"JOIN knowledge_document d ON d.id = c.document_id, ({'SELECT ' + query}) AS t(q) "
                f"WHERE c.search_vector @@ q AND {scope} ORDER BY score DESC, c.id LIMIT %s",
                [*terms, *params, limit],
            )
        return [(int(row[0]), float(row[1])) for row in cursor.fetchall()]
