"""Database work from async code, and write serialization for SQLite.

Async code reaches the database through :func:`run_db`: one call is one synchronous unit
of work (a few queries, at most one transaction) run in a small shared pool of threads,
so a process holds a bounded number of connections whatever the number of open streams
(the pool's, and one more for the replies' writer, :func:`run_db_writer`).
On SQLite the pool's threads keep their connection (opening one, with its PRAGMAs, costs
more than the work itself); on PostgreSQL they hand it back to the process's connection
pool after each call, and that pool bounds the process's connections.

SQLite allows one writer at a time; the others spin in its busy handler with growing
sleeps until they time out ("database is locked"). Taking one process-wide lock around
each short write transaction turns that contention into a plain queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Model, QuerySet
from django.utils import translation

T = TypeVar("T")
M = TypeVar("M", bound=Model)

_sqlite_write_lock = threading.Lock()


@contextlib.contextmanager
def write_transaction() -> Iterator[None]:
    """``transaction.atomic()``, serialized within the process when the database is SQLite."""
    if connection.vendor == "sqlite":
        with _sqlite_write_lock, transaction.atomic():
            yield
    else:
        with transaction.atomic():
            yield


def first_unordered(queryset: QuerySet[M]) -> M | None:
    """The row of a query that matches at most one (a lookup by primary key), or None.

    ``QuerySet.first()`` orders by the model's ordering or its key, and compiling that
    ORDER BY (Django hashes each ordering expression through its constructor signature)
    costs more than the lookup itself; on a streaming turn's set-up it was the largest
    single item."""
    return next(iter(queryset.order_by()[:1]), None)


_executors: dict[str, ThreadPoolExecutor] = {}


def _executor(lane: str) -> ThreadPoolExecutor:
    executor = _executors.get(lane)
    if executor is None:
        threads = settings.LUXX_DB_THREADS if lane == "db" else 1
        executor = _executors[lane] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"luxx-{lane}")
    return executor


def _in_db_thread(function: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], language: str | None) -> T:
    keep = connection.vendor == "sqlite"
    try:
        with translation.override(language):
            return function(*args, **kwargs)
    except Exception:
        if keep and connection.connection is not None and not connection.is_usable():
            connection.close()
        raise
    finally:
        if not keep:
            close_old_connections()


async def run_db(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run one synchronous unit of database work from async code, in the shared pool, in
    the caller's language (for the messages of the errors it raises)."""
    return await _run_in("db", function, args, kwargs)


async def run_db_writer(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """:func:`run_db` on the process's one thread for the replies' writes (chat/progress.py),
    which never waits behind the shared pool's queue: when hundreds of turns start at once,
    their set-ups fill that queue for seconds, and the progress and final state of the
    replies already streaming must still be committed about once a second."""
    return await _run_in("writer", function, args, kwargs)


async def _run_in(lane: str, function: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(lane), _in_db_thread, function, args, kwargs, translation.get_language())


def release_request_connection() -> None:
    """Close this thread's connection before a long streaming response: the request's
    database work is done, and the stream writes through :func:`run_db`."""
    if not connection.in_atomic_block:
        connection.close()
