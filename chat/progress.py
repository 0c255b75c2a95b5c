"""Where streaming replies are written: one writer per event loop for all of them.

Each open reply registers a snapshot function. About once a second the writer takes a
snapshot of every reply that changed and writes them all in one transaction (one
statement executed for many rows), together with a heartbeat (``updated_at``) for the
open replies that did not change, so a sweep can tell a reply whose process died from
one waiting for a slow tool. A crash loses at most about a second of a reply, and the
database sees one transaction per second per process instead of one per reply. The writer
has a database thread of its own (:func:`luxx.db.run_db_writer`): when a thousand turns
start at once their set-ups queue for seconds in the shared pool, and the replies already
streaming are written on time all the same.

A reply's final state (status, steps, usage) is written at once: :meth:`ReplyWriter.finish`
wakes the writer, which commits every final that is waiting, in one transaction (a group
commit), before the replies' ``done`` events go out.

The writer runs only while replies are open or finals wait; it ends with the last one.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils import timezone

from chat.models import Message, MessageStatus
from luxx.db import run_db_writer, write_transaction
from usage.services import LedgerEntry, ledger_write

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_SECONDS = 1.0
_ID_BATCH = 500

Snapshot = Callable[[], tuple[list[dict[str, Any]], str]]


@dataclass(slots=True)
class ReplyFinal:
    message_id: str
    status: str
    steps: list[dict[str, Any]]
    text: str
    usage: dict[str, Any] | None
    error: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    # A conversation whose title was a default one when the turn began: its title task is
    # queued in the same transaction, not in one of its own.
    title_conversation_id: str = ""
    # The reply's model calls, recorded in the same transaction as its final state.
    ledger: LedgerEntry | None = None


class ReplyWriter:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._open: dict[str, Snapshot] = {}
        self._dirty: set[str] = set()
        self._finals: list[tuple[ReplyFinal, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def open(self, message_id: str, snapshot: Snapshot) -> None:
        self._open[message_id] = snapshot
        self._ensure_running()

    def changed(self, message_id: str) -> None:
        self._dirty.add(message_id)

    def finish_nowait(self, final: ReplyFinal) -> asyncio.Future[None]:
        """Queue the reply's final state; the returned future resolves once it is committed."""
        self._open.pop(final.message_id, None)
        self._dirty.discard(final.message_id)
        done: asyncio.Future[None] = self._loop.create_future()
        self._finals.append((final, done))
        self._wake.set()
        self._ensure_running()
        return done

    async def finish(self, final: ReplyFinal) -> None:
        """Write the reply's final state and return once it is committed."""
        await asyncio.shield(self.finish_nowait(final))

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._run(), name="luxx-reply-writer")

    async def _run(self) -> None:
        last_progress = self._loop.time()
        while self._open or self._finals:
            if not self._finals:
                try:
                    async with asyncio.timeout(max(0.0, last_progress + FLUSH_INTERVAL_SECONDS - self._loop.time())):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            self._wake.clear()
            finals, self._finals = self._finals, []
            progress: list[tuple[str, list[dict[str, Any]], str]] = []
            alive: list[str] = []
            if self._loop.time() - last_progress >= FLUSH_INTERVAL_SECONDS:
                last_progress = self._loop.time()
                for message_id, snapshot in self._open.items():
                    if message_id in self._dirty:
                        steps, text = snapshot()
                        progress.append((message_id, steps, text))
                    else:
                        alive.append(message_id)
                self._dirty.clear()
            try:
                await run_db_writer(replies_write, progress=progress, finals=[final for final, _ in finals], alive=alive)
            except Exception as error:
                logger.exception("Writing %d replies failed", len(progress) + len(finals))
                for _, done in finals:
                    if not done.done():
                        done.set_exception(error)
            else:
                for _, done in finals:
                    if not done.done():
                        done.set_result(None)


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReplyWriter] = weakref.WeakKeyDictionary()


def reply_writer() -> ReplyWriter:
    """The writer of the running event loop."""
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = ReplyWriter(loop)
    return writer


def replies_write(*, progress: list[tuple[str, list[dict[str, Any]], str]], finals: list[ReplyFinal], alive: list[str]) -> None:
    """One transaction: progress of changed replies (only while still streaming), finals
    (with the title requests of their conversations), and a heartbeat for unchanged open
    replies."""
    from chat.tasks import generate_title

    if not (progress or finals or alive):
        return
    meta = Message._meta
    table = connection.ops.quote_name(meta.db_table)
    json_field = meta.get_field("process_steps")
    now = meta.get_field("updated_at").get_db_prep_save(timezone.now(), connection)  # type: ignore[attr-defined]

    def json(value: Any) -> Any:
        return json_field.get_db_prep_save(value, connection)  # type: ignore[attr-defined]

    ledger: list[LedgerEntry] = []
    with write_transaction(), connection.cursor() as cursor:
        if progress:
            cursor.executemany(
                f"UPDATE {table} SET process_steps = %s, content = %s, updated_at = %s WHERE id = %s AND status = %s",
                [
                    (json(steps), text, now, message_id, MessageStatus.STREAMING.value)
                    for message_id, steps, text in sorted(progress, key=lambda item: item[0])
                ],
            )
        if finals:
            # Rows are locked in id order, as the sweep locks them, so the two cannot deadlock.
            finals = sorted(finals, key=lambda final: final.message_id)
            swept = _swept_ids(cursor, table, [final.message_id for final in finals])
            cursor.executemany(
                f"UPDATE {table} SET status = %s, process_steps = %s, content = %s, error = %s, usage = %s, "
                f"token_count = %s, citations = %s, updated_at = %s WHERE id = %s",
                [
                    (
                        final.status,
                        json(final.steps),
                        final.text,
                        final.error,
                        json(final.usage),
                        int((final.usage or {}).get("total_tokens", 0)),
                        json(final.citations),
                        now,
                        final.message_id,
                    )
                    for final in finals
                ],
            )
            ledger = [final.ledger for final in finals if final.ledger is not None and final.message_id not in swept]
        for final in finals:
            if final.title_conversation_id:
                # Its title was a default one when the turn began; the task checks again.
                generate_title.enqueue(final.title_conversation_id)
        for start in range(0, len(alive), _ID_BATCH):
            ids = alive[start : start + _ID_BATCH]
            cursor.execute(
                f"UPDATE {table} SET updated_at = %s WHERE status = %s AND id IN ({', '.join(['%s'] * len(ids))})",
                [now, MessageStatus.STREAMING.value, *ids],
            )
        # Last: the users' counters stay locked until the commit.
        ledger_write(ledger)


def _swept_ids(cursor: Any, table: str, ids: list[str]) -> set[str]:
    """Those of ``ids`` that are no longer streaming: the sweep of silent replies
    (chat.background) took them for dead and already recorded and settled their usage, so
    their final write must not do it again.

    Every row is read locked, whatever its status, and the status judged here: a row the
    sweep is changing right now is then read as the sweep commits it (a ``status <>``
    condition would be judged before the wait, see the test of the race)."""
    lock = " ORDER BY id FOR UPDATE" if connection.features.has_select_for_update else ""
    swept: set[str] = set()
    for start in range(0, len(ids), _ID_BATCH):
        chunk = ids[start : start + _ID_BATCH]
        cursor.execute(f"SELECT id, status FROM {table} WHERE id IN ({', '.join(['%s'] * len(chunk))}){lock}", chunk)
        swept.update(message_id for message_id, status in cursor.fetchall() if status != MessageStatus.STREAMING.value)
    return swept
