"""Search ranks by BM25 from statistics the index keeps itself, the same on SQLite and
PostgreSQL whatever the planner knows (see knowledge.index).

- Chunks are segmented again, so that every word is one token to both databases (accents
  folded, underscores separating words), and get ``boost_text``: the words that occur more
  than once in the chunk, or all of them when the chunk is short.
- SQLite: FTS5 keeps document frequencies, the row count and the token count itself; its
  table is made again without its own accent folding (the words come folded), and a second
  FTS5 table indexes ``boost_text``.
- PostgreSQL: ``word_count`` (a chunk's length in words) and ``boost_vector`` (GIN-indexed)
  are generated columns; ``knowledge_term`` (chunks per word) and
  ``knowledge_index_stats`` (chunks and words in all) are kept by statement triggers on
  knowledge_chunk in the same transaction as the chunks, whichever way rows are written or
  deleted (cascades and TRUNCATE included). Rows are locked in word order, so that concurrent writers
  cannot deadlock on them.
"""

from __future__ import annotations

from django.db import migrations, models

BATCH = 500

SQLITE_DROP_OLD = [
    "DROP TRIGGER IF EXISTS knowledge_chunk_fts_insert",
    "DROP TRIGGER IF EXISTS knowledge_chunk_fts_delete",
    "DROP TRIGGER IF EXISTS knowledge_chunk_fts_update",
    "DROP TABLE IF EXISTS knowledge_chunk_fts_terms",
    "DROP TABLE IF EXISTS knowledge_chunk_fts",
]


def _sqlite_index(table: str, column: str) -> list[str]:
    return [
        f"CREATE VIRTUAL TABLE {table} USING fts5({column}, content='knowledge_chunk', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 0')",
        f"CREATE TRIGGER {table}_insert AFTER INSERT ON knowledge_chunk BEGIN "
        f"INSERT INTO {table}(rowid, {column}) VALUES (new.id, new.{column}); END",
        f"CREATE TRIGGER {table}_delete AFTER DELETE ON knowledge_chunk BEGIN "
        f"INSERT INTO {table}({table}, rowid, {column}) VALUES ('delete', old.id, old.{column}); END",
        f"CREATE TRIGGER {table}_update AFTER UPDATE OF {column} ON knowledge_chunk BEGIN "
        f"INSERT INTO {table}({table}, rowid, {column}) VALUES ('delete', old.id, old.{column}); "
        f"INSERT INTO {table}(rowid, {column}) VALUES (new.id, new.{column}); END",
        f"INSERT INTO {table}({table}) VALUES ('rebuild')",
    ]


SQLITE_CREATE = [
    *_sqlite_index("knowledge_chunk_fts", "search_text"),
    "CREATE VIRTUAL TABLE knowledge_chunk_fts_terms USING fts5vocab(knowledge_chunk_fts, 'row')",
    *_sqlite_index("knowledge_chunk_boost", "boost_text"),
]
SQLITE_DROP_NEW = [
    *(f"DROP TRIGGER IF EXISTS {t}_{op}" for t in ("knowledge_chunk_fts", "knowledge_chunk_boost") for op in ("insert", "delete", "update")),
    "DROP TABLE IF EXISTS knowledge_chunk_fts_terms",
    "DROP TABLE IF EXISTS knowledge_chunk_fts",
    "DROP TABLE IF EXISTS knowledge_chunk_boost",
]
SQLITE_RESTORE_OLD = [
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
    "CREATE VIRTUAL TABLE knowledge_chunk_fts_terms USING fts5vocab(knowledge_chunk_fts, 'row')",
]

_UPSERT = (
    "INSERT INTO knowledge_term AS t (word, chunks) SELECT w, sum(n) FROM ({words}) AS d GROUP BY w HAVING sum(n) <> 0 ORDER BY w "
    "ON CONFLICT (word) DO UPDATE SET chunks = t.chunks + excluded.chunks;"
)
_CHANGED = "new_rows AS nr JOIN old_rows AS orow ON orow.id = nr.id"
_COUNT_WORDS = f"""
CREATE FUNCTION knowledge_chunk_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_UPSERT.format(words="SELECT w, 1 AS n FROM new_rows, unnest(tsvector_to_array(new_rows.search_vector)) AS w")}
        UPDATE knowledge_index_stats SET chunks = chunks + (SELECT count(*) FROM new_rows),
            words = words + (SELECT coalesce(sum(word_count), 0) FROM new_rows) WHERE id = 1;
    ELSIF TG_OP = 'DELETE' THEN
        {_UPSERT.format(words="SELECT w, -1 AS n FROM old_rows, unnest(tsvector_to_array(old_rows.search_vector)) AS w")}
        UPDATE knowledge_index_stats SET chunks = chunks - (SELECT count(*) FROM old_rows),
            words = words - (SELECT coalesce(sum(word_count), 0) FROM old_rows) WHERE id = 1;
    ELSE
        -- Only rows whose words changed: an update of a chunk's vector alone changes nothing here.
        {_UPSERT.format(words=(
            f"SELECT w, 1 AS n FROM {_CHANGED}, unnest(tsvector_to_array(nr.search_vector)) AS w "
            "WHERE nr.search_text IS DISTINCT FROM orow.search_text UNION ALL "
            f"SELECT w, -1 AS n FROM {_CHANGED}, unnest(tsvector_to_array(orow.search_vector)) AS w "
            "WHERE nr.search_text IS DISTINCT FROM orow.search_text"
        ))}
        UPDATE knowledge_index_stats SET words = words + (
            SELECT coalesce(sum(nr.word_count - orow.word_count), 0) FROM {_CHANGED}) WHERE id = 1;
    END IF;
    RETURN NULL;
END $$
"""
POSTGRES_FORWARD = [
    "ALTER TABLE knowledge_chunk ALTER COLUMN search_vector SET STATISTICS -1",
    "ALTER TABLE knowledge_chunk ADD COLUMN word_count integer "
    "GENERATED ALWAYS AS (coalesce(array_length(string_to_array(search_text, ' '), 1), 0)) STORED",
    "ALTER TABLE knowledge_chunk ADD COLUMN boost_vector tsvector GENERATED ALWAYS AS (to_tsvector('simple', boost_text)) STORED",
    "CREATE INDEX knowledge_chunk_boost_vector ON knowledge_chunk USING GIN (boost_vector)",
    "CREATE TABLE knowledge_term (word text PRIMARY KEY, chunks bigint NOT NULL)",
    "CREATE TABLE knowledge_index_stats (id integer PRIMARY KEY CHECK (id = 1), chunks bigint NOT NULL, words bigint NOT NULL)",
    "INSERT INTO knowledge_term (word, chunks) SELECT w, count(*) FROM knowledge_chunk, unnest(tsvector_to_array(search_vector)) AS w GROUP BY w",
    "INSERT INTO knowledge_index_stats (id, chunks, words) SELECT 1, count(*), coalesce(sum(word_count), 0) FROM knowledge_chunk",
    _COUNT_WORDS,
    "CREATE FUNCTION knowledge_chunk_emptied() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "DELETE FROM knowledge_term; UPDATE knowledge_index_stats SET chunks = 0, words = 0 WHERE id = 1; RETURN NULL; END $$",
    "CREATE TRIGGER knowledge_chunk_emptied AFTER TRUNCATE ON knowledge_chunk FOR EACH STATEMENT EXECUTE FUNCTION knowledge_chunk_emptied()",
    "CREATE TRIGGER knowledge_chunk_counted_insert AFTER INSERT ON knowledge_chunk REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION knowledge_chunk_counted()",
    "CREATE TRIGGER knowledge_chunk_counted_delete AFTER DELETE ON knowledge_chunk REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION knowledge_chunk_counted()",
    "CREATE TRIGGER knowledge_chunk_counted_update AFTER UPDATE ON knowledge_chunk REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION knowledge_chunk_counted()",
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS knowledge_chunk_counted_insert ON knowledge_chunk",
    "DROP TRIGGER IF EXISTS knowledge_chunk_counted_delete ON knowledge_chunk",
    "DROP TRIGGER IF EXISTS knowledge_chunk_counted_update ON knowledge_chunk",
    "DROP TRIGGER IF EXISTS knowledge_chunk_emptied ON knowledge_chunk",
    "DROP FUNCTION IF EXISTS knowledge_chunk_counted()",
    "DROP FUNCTION IF EXISTS knowledge_chunk_emptied()",
    "DROP TABLE IF EXISTS knowledge_term",
    "DROP TABLE IF EXISTS knowledge_index_stats",
    "DROP INDEX IF EXISTS knowledge_chunk_boost_vector",
    "ALTER TABLE knowledge_chunk DROP COLUMN IF EXISTS boost_vector",
    "ALTER TABLE knowledge_chunk DROP COLUMN IF EXISTS word_count",
    "ALTER TABLE knowledge_chunk ALTER COLUMN search_vector SET STATISTICS 1000",
]


def resegment(apps, schema_editor):  # type: ignore[no-untyped-def]
    from knowledge.segment import boost_text, segment

    Chunk = apps.get_model("knowledge", "Chunk")
    last = 0
    while True:
        batch = list(Chunk.objects.filter(pk__gt=last).order_by("pk").only("pk", "heading", "content", "search_text")[:BATCH])
        if not batch:
            return
        for chunk in batch:
            chunk.search_text = segment(f"{chunk.heading}\n{chunk.content}")
            chunk.boost_text = boost_text(chunk.search_text)
        Chunk.objects.bulk_update(batch, ["search_text", "boost_text"])
        last = batch[-1].pk


def _run(statements_by_vendor: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0007_documentupload")]
    operations = [
        migrations.AddField(
            model_name="chunk",
            name="boost_text",
            field=models.TextField(
                blank=True, default="", help_text="Words of search_text that can score high alone."
            ),
        ),
        # The old index is dropped first so that re-segmenting does not update it row by row.
        migrations.RunPython(_run({"sqlite": SQLITE_DROP_OLD}), _run({"sqlite": SQLITE_DROP_NEW + SQLITE_RESTORE_OLD})),
        migrations.RunPython(resegment, migrations.RunPython.noop),
        migrations.RunPython(
            _run({"sqlite": SQLITE_CREATE, "postgresql": POSTGRES_FORWARD}), _run({"postgresql": POSTGRES_BACKWARD})
        ),
    ]
