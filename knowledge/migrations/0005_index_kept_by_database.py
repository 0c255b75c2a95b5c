"""The database keeps the full-text index in step with the chunk rows by itself, so that no
way of deleting a chunk (a cascade from a user, an agent or the admin) can leave stale
entries behind.

SQLite: the FTS5 table becomes an external-content table over knowledge_chunk (the
segmented text is stored once, in the chunk row), maintained by triggers.
PostgreSQL: search_vector becomes a generated column.
"""

from __future__ import annotations

from django.db import migrations

SQLITE_FORWARD = [
    "DROP TABLE IF EXISTS knowledge_chunk_fts",
    "CREATE VIRTUAL TABLE knowledge_chunk_fts USING fts5(search_text, content='knowledge_chunk', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER knowledge_chunk_fts_insert AFTER INSERT ON knowledge_chunk BEGIN "
    "INSERT INTO knowledge_chunk_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER knowledge_chunk_fts_delete AFTER DELETE ON knowledge_chunk BEGIN "
    "INSERT INTO knowledge_chunk_fts(knowledge_chunk_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER knowledge_chunk_fts_update AFTER UPDATE OF search_text ON knowledge_chunk BEGIN "
    "INSERT INTO knowledge_chunk_fts(knowledge_chunk_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO knowledge_chunk_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "INSERT INTO knowledge_chunk_fts(knowledge_chunk_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS knowledge_chunk_fts_insert",
    "DROP TRIGGER IF EXISTS knowledge_chunk_fts_delete",
    "DROP TRIGGER IF EXISTS knowledge_chunk_fts_update",
    "DROP TABLE IF EXISTS knowledge_chunk_fts",
    "CREATE VIRTUAL TABLE knowledge_chunk_fts USING fts5(search_text, tokenize='unicode61 remove_diacritics 2')",
    "INSERT INTO knowledge_chunk_fts(rowid, search_text) SELECT id, search_text FROM knowledge_chunk",
]
POSTGRES_FORWARD = [
    "DROP INDEX IF EXISTS knowledge_chunk_search_vector",
    "ALTER TABLE knowledge_chunk DROP COLUMN IF EXISTS search_vector",
    "ALTER TABLE knowledge_chunk ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED",
    "CREATE INDEX knowledge_chunk_search_vector ON knowledge_chunk USING GIN (search_vector)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS knowledge_chunk_search_vector",
    "ALTER TABLE knowledge_chunk DROP COLUMN IF EXISTS search_vector",
    "ALTER TABLE knowledge_chunk ADD COLUMN search_vector tsvector",
    "UPDATE knowledge_chunk SET search_vector = to_tsvector('simple', search_text)",
    "CREATE INDEX knowledge_chunk_search_vector ON knowledge_chunk USING GIN (search_vector)",
]


def _run(statements_by_vendor: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0004_document_unique_bytes")]
    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        )
    ]
