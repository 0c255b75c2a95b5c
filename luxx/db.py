"""Write serialization for SQLite.

Under ASGI every request runs its synchronous code in a thread of its own, with its own
database connection. PostgreSQL handles concurrent writers; SQLite allows one, and the
others spin in its busy handler with growing sleeps until they time out ("database is
locked") once a few dozen streams write at once. Taking one process-wide lock around each
short write transaction turns that contention into a plain queue.
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

T = TypeVar("T")

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


_db_executor: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _db_executor
    if _db_executor is None:
        _db_executor = ThreadPoolExecutor(max_workers=settings.LUXX_DB_THREADS, thread_name_prefix="luxx-db")
    return _db_executor


def _in_db_thread(function: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    close_old_connections()
    try:
        return function(*args, **kwargs)
    finally:
        close_old_connections()


async def run_db(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run one synchronous unit of database work from async code, in a small shared pool.

    Streams write a little, for a long time; doing that in each request's own thread
    would hold one database connection per open stream (hundreds), while this pool holds
    at most LUXX_DB_THREADS.
    """
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), _in_db_thread, function, args, kwargs)


def release_request_connection() -> None:
    """Close this thread's connection before a long streaming response: the request's
    database work is done, and the stream writes through :func:`run_db`."""
    if not connection.in_atomic_block:
        connection.close()
