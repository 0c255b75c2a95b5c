"""Search in the database's own full-text engine: SQLite FTS5 ranked by BM25, or
PostgreSQL's tsvector/GIN ranked by ts_rank_cd, over jieba-segmented text.

The database keeps the index itself (triggers on SQLite, a generated column on PostgreSQL;
see migration 0005), so writing or deleting a chunk row is all indexing takes.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

MAX_QUERY_TERMS = 32


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
