"""Chunks indexed before English stemming (and before jieba ran without its HMM) are
segmented again, so that their words are spelt as queries now spell them; the database
updates its full-text index from the new text by itself (migration 0005).

Search reads how rare each word is (see knowledge.index): on SQLite from an fts5vocab
table over the index, on PostgreSQL from the column's statistics, kept here at ten times
the default detail.
"""

from __future__ import annotations

from django.db import migrations

BATCH = 500


def resegment(apps, schema_editor):  # type: ignore[no-untyped-def]
    from knowledge.segment import segment

    Chunk = apps.get_model("knowledge", "Chunk")
    last = 0
    while True:
        batch = list(Chunk.objects.filter(pk__gt=last).order_by("pk")[:BATCH])
        if not batch:
            return
        for chunk in batch:
            chunk.search_text = segment(f"{chunk.heading}\n{chunk.content}")
        Chunk.objects.bulk_update(batch, ["search_text"])
        last = batch[-1].pk


def term_statistics(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("CREATE VIRTUAL TABLE knowledge_chunk_fts_terms USING fts5vocab(knowledge_chunk_fts, 'row')")
    elif schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE knowledge_chunk ALTER COLUMN search_vector SET STATISTICS 1000")


def drop_term_statistics(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TABLE IF EXISTS knowledge_chunk_fts_terms")
    elif schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE knowledge_chunk ALTER COLUMN search_vector SET STATISTICS -1")


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0005_index_kept_by_database")]
    operations = [
        migrations.RunPython(term_statistics, drop_term_statistics),
        migrations.RunPython(resegment, migrations.RunPython.noop),
    ]
