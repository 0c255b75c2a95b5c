"""A quicker end for the transactional tests.

On PostgreSQL a flush empties only the tables that have rows (and, as TRUNCATE needs, the
tables whose foreign keys point at them): TRUNCATE costs each table it names a new file
and catalog updates, and most of the suite's 37 tables are empty after any one test.

After each ``django_db(transaction=True)`` test Django flushes the database (every table
emptied) and emits ``post_migrate``, whose receivers (content types, permissions) then
look up every model and write their rows again: about 0.1 s of queries on PostgreSQL for
each of the suite's hundreds of transactional tests, to write the same rows every time.
So the first flush of a test process runs as Django runs it, and the rows it leaves
(those ``post_migrate`` wrote) are kept; every later flush writes those rows back
instead of emitting the signal. The database after a flush is the same as before: every
table emptied, then the rows ``post_migrate`` writes (with the same ids each time).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management.commands import flush

_emit = flush.emit_post_migrate_signal
_sql_flush = flush.sql_flush
# Per database: the tables whose foreign keys point at each table.
_referencing: dict[str, dict[str, set[str]]] = {}
# Per database: (table, columns, rows) of every table post_migrate left rows in.
_kept: dict[str, list[tuple[str, list[str], list[tuple[Any, ...]]]]] = {}


def _emit_or_restore(verbosity: int, interactive: bool, db: str, **kwargs: Any) -> None:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connections, transaction

    connection = connections[db]
    quote = connection.ops.quote_name
    kept = _kept.get(db)
    if kept is None:
        _emit(verbosity, interactive, db, **kwargs)
        kept = []
        with connection.cursor() as cursor:
            for table in connection.introspection.django_table_names(only_existing=True, include_views=False):
                cursor.execute(f"SELECT * FROM {quote(table)}")
                rows = cursor.fetchall()
                if rows:
                    kept.append((table, [column[0] for column in cursor.description], rows))
        _kept[db] = kept
        return
    # Foreign keys are checked at the end of the transaction, so the order is free.
    with transaction.atomic(using=db), connection.cursor() as cursor:
        for table, columns, rows in kept:
            names = ", ".join(quote(column) for column in columns)
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {quote(table)} ({names}) VALUES ({marks})", rows)
    ContentType.objects.clear_cache()


def _sql_flush_tables_with_rows(style: Any, connection: Any, reset_sequences: bool = True, allow_cascade: bool = False) -> list[str]:
    if connection.vendor != "postgresql" or reset_sequences:
        return _sql_flush(style, connection, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(f"SELECT %s WHERE EXISTS (SELECT 1 FROM {quote(table)})" for table in tables), tables)
        emptied = {row[0] for row in cursor.fetchall()}
        if connection.alias not in _referencing:
            cursor.execute(
                "SELECT confrelid::regclass::text, conrelid::regclass::text FROM pg_constraint WHERE contype = 'f'"
                " AND connamespace = 'public'::regnamespace"
            )
            referencing: dict[str, set[str]] = {}
            for target, source in cursor.fetchall():
                referencing.setdefault(target.strip('"'), set()).add(source.strip('"'))
            _referencing[connection.alias] = referencing
    referencing = _referencing[connection.alias]
    todo = list(emptied)
    while todo:
        for source in referencing.get(todo.pop(), ()):
            if source not in emptied:
                emptied.add(source)
                todo.append(source)
    if not emptied:  # an empty database: flush as Django does (post_migrate then runs)
        return _sql_flush(style, connection, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    return connection.ops.sql_flush(style, sorted(emptied), reset_sequences=False, allow_cascade=allow_cascade)


def pytest_configure(config: pytest.Config) -> None:
    flush.emit_post_migrate_signal = _emit_or_restore  # type: ignore[assignment]
    flush.sql_flush = _sql_flush_tables_with_rows
