"""The full-text index, in each database's own engine: an FTS5 table on SQLite, a
tsvector column with a GIN index on PostgreSQL."""

from __future__ import annotations

from django.db import migrations


def create_index(apps, schema_editor):  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute("CREATE VIRTUAL TABLE knowledge_chunk_fts USING fts5(search_text, tokenize='unicode61 remove_diacritics 2')")
    elif vendor == "postgresql":
        schema_editor.execute("ALTER TABLE knowledge_chunk ADD COLUMN search_vector tsvector")
        schema_editor.execute("CREATE INDEX knowledge_chunk_search_vector ON knowledge_chunk USING GIN (search_vector)")


def drop_index(apps, schema_editor):  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute("DROP TABLE IF EXISTS knowledge_chunk_fts")
    elif vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS knowledge_chunk_search_vector")
        schema_editor.execute("ALTER TABLE knowledge_chunk DROP COLUMN IF EXISTS search_vector")


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]
    operations = [migrations.RunPython(create_index, drop_index)]
