"""The observers' side of rooms on django-eventstream: who may read a room's channel, where
its events are kept for ``Last-Event-ID`` replay, and how they reach the web processes.

A room's run executes on a worker (``rooms.tasks``), so its events must cross processes.
They are kept:

- in Redis when ``REDIS_URL`` is set (one Lua call per event: id, append, trim, expiry,
  and the publish that django-eventstream's Redis listener in every web process hears);
- in the database otherwise (``RoomEvent``), which every process already shares: the run
  writes its chunks in small batches (at most every ``FLUSH_SECONDS``), and each web
  process relays new events to its observers from one query every
  LUXX_ROOM_EVENTS_POLL_SECONDS, shared by all of them, while it has any. So the default
  set-up (SQLite, no Redis: ``make run``) needs no other service, and its observers and
  starters see a worker's run with a delay of about a tenth of a second.

Either log is a bounded window (``ROOM_EVENTS_TTL`` seconds after the last event, at
most ``ROOM_EVENTS_MAX`` events per room): an observer asking for events older than that
gets a ``stream-reset`` event and reloads the transcript from ``/messages``. A room's
reset restarts its log with the ``room_reset`` event (ids go on, never reused), so an
observer reconnecting from before the reset gets ``stream-reset`` too, never the cleared
transcript replayed as if it were current.

Observers are served by :func:`observe` rather than the library's view: the library's
loop re-sends events it has already sent when new ones arrive while it reads the log (it
re-reads from the id it was asked for, not from the last one it sent), and it pads and
re-encodes every frame. ``observe`` keeps the library's listeners and Redis listener,
and sends each event exactly once, in order, filling any gap from the log. The client
that started a run reads the same stream (:func:`follow_run`) up to the run's end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import orjson
from django.conf import settings
from django.db import IntegrityError, close_old_connections
from django.db.models import Max, Min
from django_eventstream.channelmanager import DefaultChannelManager
from django_eventstream.event import Event
from django_eventstream.storage import EventDoesNotExist, StorageBase
from django_eventstream.utils import get_storage, parse_last_event_id
from django_eventstream.views import Listener, get_listener_manager

from luxx.db import write_transaction
from luxx.sse import KEEPALIVE
from rooms.models import ChatRoom, RoomEvent

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "room-"


def channel_name(room_id: str) -> str:
    return f"{CHANNEL_PREFIX}{room_id}"


def _ttl() -> int:
    return int(getattr(settings, "ROOM_EVENTS_TTL", 3600))


def _max_events() -> int:
    return int(getattr(settings, "ROOM_EVENTS_MAX", 20_000))


class RoomChannelManager(DefaultChannelManager):
    """A room's channel is readable by the room's owner only."""

    def get_channels_for_request(self, request: Any, view_kwargs: dict[str, Any]) -> set[str]:
        return set(view_kwargs.get("channels") or ())

    def can_read_channel(self, user: Any, channel: str) -> bool:
        if not channel.startswith(CHANNEL_PREFIX) or user is None:
            return False
        return ChatRoom.objects.filter(pk=channel.removeprefix(CHANNEL_PREFIX), user=user).exists()

    def is_channel_reliable(self, channel: str) -> bool:
        return True


class DatabaseEventStorage(StorageBase):
    """Replay log in the database (``RoomEvent``), shared by every process: the set-up
    without Redis. Ids count per channel from 1; a channel idle for ``ROOM_EVENTS_TTL``
    is dropped by ``rooms.tasks.prune_event_logs`` and starts again from 1, as in Redis."""

    def append_events(self, channel: str, events: list[tuple[str, str]], *, restart: bool = False) -> int:
        """Store events in order; answer the id of the last. ``restart`` drops the events
        before them (see :func:`send`)."""
        for attempt in range(5):
            try:
                with write_transaction():
                    last = RoomEvent.objects.filter(channel=channel).aggregate(last=Max("seq"))["last"] or 0
                    if restart:
                        RoomEvent.objects.filter(channel=channel).delete()
                    RoomEvent.objects.bulk_create(
                        RoomEvent(channel=channel, seq=last + number, event_type=kind, data=data)
                        for number, (kind, data) in enumerate(events, start=1)
                    )
                    newest = last + len(events)
                    if newest > _max_events():
                        RoomEvent.objects.filter(channel=channel, seq__lte=newest - _max_events()).delete()
                return newest
            except IntegrityError:  # another writer took these ids first (PostgreSQL): again
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def append_event(self, channel: str, event_type: str, data: Any, *, restart: bool = False) -> Event:
        event_id = self.append_events(channel, [(event_type, data)], restart=restart)
        return Event(channel, event_type, data, id=event_id)

    def get_events(self, channel: str, last_id: int, limit: int = 100) -> list[Event]:
        span = RoomEvent.objects.filter(channel=channel).aggregate(first=Min("seq"), current=Max("seq"))
        current = span["current"] or 0
        if last_id == current:
            return []
        first = span["first"] or current + 1
        if last_id > current or last_id < first - 1:
            raise EventDoesNotExist(f"No such event {last_id}", current)
        rows = RoomEvent.objects.filter(channel=channel, seq__gt=last_id).order_by("seq").values_list("seq", "event_type", "data")
        return [Event(channel, kind, data, id=seq) for seq, kind, data in rows[:limit]]

    def get_current_id(self, channel: str) -> int:
        return int(RoomEvent.objects.filter(channel=channel).aggregate(current=Max("seq"))["current"] or 0)

    def current_ids(self, channels: list[str]) -> dict[str, int]:
        """The newest id of each of these channels (one query)."""
        rows = RoomEvent.objects.filter(channel__in=channels).values("channel").annotate(current=Max("seq"))
        return {row["channel"]: int(row["current"]) for row in rows}


# KEYS: counter, list. ARGV: event type, data, max events, ttl, channel, pub/sub channel
# (empty: store only), restart ('1': drop the stored events first). Stores the event and,
# in the same round trip, publishes it in the message format of django-eventstream's
# RedisListener, which every process runs.
_APPEND = """
local id = redis.call('INCR', KEYS[1])
if ARGV[7] == '1' then
  redis.call('DEL', KEYS[2])
end
redis.call('RPUSH', KEYS[2], cjson.encode({id, ARGV[1], ARGV[2]}))
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
if ARGV[6] ~= '' then
  redis.call('PUBLISH', ARGV[6], cjson.encode({channel = ARGV[5], event_type = ARGV[1], data = ARGV[2], pub_id = tostring(id)}))
end
return id
"""
# The pub/sub channel django_eventstream.views.RedisListener subscribes to.
PUBSUB_CHANNEL = "events_channel"


class RedisEventStorage(StorageBase):
    """Replay log in Redis, shared by every server process: a counter and a capped list
    per channel, both expiring ``ROOM_EVENTS_TTL`` seconds after the last event."""

    prefix = "luxx:events:"

    def __init__(self) -> None:
        import redis

        self._redis = redis.Redis(**settings.EVENTSTREAM_REDIS)  # type: ignore[arg-type]
        self._append = self._redis.register_script(_APPEND)

    def _keys(self, channel: str) -> tuple[str, str]:
        return f"{self.prefix}{channel}:id", f"{self.prefix}{channel}:log"

    def append_event(self, channel: str, event_type: str, data: Any, *, publish: bool = False, restart: bool = False) -> Event:
        """Store an event; ``restart`` drops the events before it (see :func:`send`)."""
        args = [event_type, data, _max_events(), _ttl(), channel, PUBSUB_CHANNEL if publish else "", "1" if restart else ""]
        event_id = int(self._append(keys=self._keys(channel), args=args))
        return Event(channel, event_type, data, id=event_id)

    def get_events(self, channel: str, last_id: int, limit: int = 100) -> list[Event]:
        counter, log = self._keys(channel)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(counter)
            pipe.lindex(log, 0)
            current_raw, first_raw = pipe.execute()
        current = int(current_raw or 0)
        if last_id == current:
            return []
        first = json.loads(first_raw)[0] if first_raw else current + 1
        if last_id > current or last_id < first - 1:
            raise EventDoesNotExist(f"No such event {last_id}", current)
        start = last_id - first + 1
        entries = self._redis.lrange(log, start, start + limit - 1)
        # A trim between the two calls would shift the window: keep the ids contiguous.
        events = [json.loads(entry) for entry in entries]
        events = [e for e in events if e[0] > last_id]
        if events and events[0][0] != last_id + 1:
            raise EventDoesNotExist(f"No such event {last_id}", current)
        return [Event(channel, kind, data, id=event_id) for event_id, kind, data in events]

    def get_current_id(self, channel: str) -> int:
        return int(self._redis.get(self._keys(channel)[0]) or 0)


def send(channel: str, event_type: str, data: str, *, restart: bool = False) -> None:
    """``django_eventstream.send_event`` for Luxx: store, and with Redis deliver to the
    listeners of every process in the same round trip, without the library's GRIP-proxy
    publish (Luxx runs no GRIP proxy, and that step alone took ~175 µs of the loop's time
    per event). In the database, each web process's relay picks the event up. ``data`` is
    already JSON.

    ``restart``: the log keeps this event alone, so that a replay from before it is a
    ``stream-reset`` (the events before it no longer describe the room)."""
    storage = get_storage()
    if isinstance(storage, RedisEventStorage):
        storage.append_event(channel, event_type, data, publish=True, restart=restart)
        return
    storage.append_event(channel, event_type, data, restart=restart)


def send_many(channel: str, events: list[tuple[str, str]]) -> None:
    """Several events of one channel, in order (one transaction in the database)."""
    storage = get_storage()
    if isinstance(storage, DatabaseEventStorage):
        storage.append_events(channel, events)
        return
    for event_type, data in events:
        send(channel, event_type, data)


_publisher: ThreadPoolExecutor | None = None
_publisher_lock = threading.Lock()


def _publisher_pool() -> ThreadPoolExecutor:
    global _publisher
    with _publisher_lock:
        if _publisher is None:
            _publisher = ThreadPoolExecutor(max_workers=4, thread_name_prefix="luxx-room-events")
        return _publisher


def event_args(room_id: str, event_type: str, data: dict[str, Any]) -> tuple[str, str, str]:
    """The arguments of :func:`send` for a room's event."""
    return _send_args(room_id, event_type, data)


def _send_args(room_id: str, event_type: str, data: dict[str, Any]) -> tuple[str, str, str]:
    # Encoded once, as UTF-8 JSON without ASCII escapes, like the starter's own frames.
    return channel_name(room_id), event_type, orjson.dumps(data).decode()


async def publish(room_id: str, event_type: str, data: dict[str, Any]) -> None:
    """Store the event for replay and deliver it to the room's observers, in every process,
    on a small pool of its own, so that database work queued by other rooms never delays
    a chunk. A run publishes through a :class:`Publisher`, which batches."""
    await asyncio.get_running_loop().run_in_executor(_publisher_pool(), _send_closing, *_send_args(room_id, event_type, data))


def _send_closing(channel: str, event_type: str, data: str) -> None:
    try:
        send(channel, event_type, data)
    finally:
        close_old_connections()


def _send_many_closing(channel: str, events: list[tuple[str, str]]) -> None:
    try:
        send_many(channel, events)
    finally:
        close_old_connections()


FLUSH_SECONDS = 0.05


class Publisher:
    """A run's events, in order. With Redis each goes out at once; in the database
    ``message_chunk`` events wait up to FLUSH_SECONDS to be written together with the
    ones after them, any other event flushes what waits. ``flush()`` before handing
    the run on, so the next turn's events come after this one's."""

    def __init__(self, room_id: str) -> None:
        self.channel = channel_name(room_id)
        self.batching = not getattr(settings, "EVENTSTREAM_REDIS", None)
        self._pending: list[tuple[str, str]] = []
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def publish(self, event_type: str, data: dict[str, Any]) -> None:
        _, _, encoded = _send_args("", event_type, data)
        self._pending.append((event_type, encoded))
        if self.batching and event_type == "message_chunk":
            if self._timer is None:
                self._timer = asyncio.get_running_loop().create_task(self._flush_later())
            return
        await self.flush()

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        self._timer = None
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            if self._timer is not None and self._timer is not asyncio.current_task():
                self._timer.cancel()
                self._timer = None
            events, self._pending = self._pending, []
            if not events:
                return
            try:
                await asyncio.get_running_loop().run_in_executor(_publisher_pool(), _send_many_closing, self.channel, events)
            except Exception:  # observers missing events must not stop the discussion
                logger.exception("Could not publish %s event(s) of %s", len(events), self.channel)


def publish_reset(room_id: str) -> None:
    """Tell the room's observers, in every process, that the room was reset (its turns
    deleted), and restart its replay log with that event. For synchronous code: the
    caller's thread waits for the one Redis round trip or database write."""
    send(*_send_args(room_id, "room_reset", {"type": "room_reset", "room_id": room_id}), restart=True)


def last_event_id(header: str | None, channel: str) -> int | None:
    """The event number a reconnecting observer saw last, from ``Last-Event-ID`` in the
    library's format (``room-<id>:<n>``, as this module sends it) or a bare number.
    None: a first connection. Raises ValueError when it cannot be read."""
    if not header:
        return None
    if ":" not in header:
        return int(header)
    ids = parse_last_event_id(header)
    value = ids.get(quote(channel), ids.get(channel))
    if value is None:
        return None
    return int(value)


def _reset_frame(channel: str, cursor: int) -> bytes:
    data = json.dumps({"channels": [channel]})
    return f"id: {quote(channel)}:{cursor}\nevent: stream-reset\ndata: {data}\n\n".encode()


def _frame(channel: str, event: Event) -> bytes:
    # ``data`` is this module's own compact JSON: one line, ready to send.
    head = f"id: {quote(channel)}:{event.id}\nevent: {event.type}\ndata: "
    return head.encode() + str(event.data).encode() + b"\n\n"


def _current_id(channel: str) -> int:
    return int(get_storage().get_current_id(channel))


def _read_log(channel: str, after: int) -> tuple[list[Event], int | None]:
    """Every stored event after ``after``; or, when the log no longer reaches back that
    far, none and the current id to go on from."""
    storage = get_storage()
    found: list[Event] = []
    while True:
        try:
            batch = storage.get_events(channel, after, limit=500)
        except EventDoesNotExist as gone:
            return [], int(gone.current_id)
        if not batch:
            return found, None
        found.extend(batch)
        after = int(batch[-1].id)


async def _off_loop(function: Any, *args: Any) -> Any:
    """Storage reads (a Redis round trip or a query) on the publisher pool, off the loop."""

    def call() -> Any:
        try:
            return function(*args)
        finally:
            close_old_connections()

    return await asyncio.get_running_loop().run_in_executor(_publisher_pool(), call)


class _DatabaseRelay:
    """This process's relay of database-logged events to its listeners, on one loop.

    While some observer listens, one query every LUXX_ROOM_EVENTS_POLL_SECONDS reads the
    newest id of every channel listened to, and the new events of those that moved go to
    the library's listener manager, as Redis's pub/sub does. It ends with the last
    observer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.known: dict[str, int] = {}
        self.task: asyncio.Task[None] | None = None

    async def watch(self, channel: str) -> None:
        """Relay ``channel`` from now on; call before reading its log (nothing falls between)."""
        if channel not in self.known:
            self.known[channel] = await _off_loop(_current_id, channel)
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._poll(), name="luxx-room-events-relay")

    async def _poll(self) -> None:
        manager = get_listener_manager()
        storage = get_storage()
        interval = float(getattr(settings, "ROOM_EVENTS_POLL_SECONDS", 0.1))
        while self.known:
            await asyncio.sleep(interval)
            with manager.lock:
                listened = set(manager.listeners_by_channel)
            for channel in [c for c in self.known if c not in listened]:
                del self.known[channel]
            if not self.known:
                return
            try:
                newest = await _off_loop(storage.current_ids, list(self.known))
                for channel, current in newest.items():
                    seen = self.known.get(channel, current)
                    if current == seen:
                        continue
                    if current < seen:  # the log expired and started again
                        self.known[channel] = current
                        continue
                    backlog, reset_to = await _off_loop(_read_log, channel, seen)
                    for event in backlog:
                        manager.add_to_queues(channel, event)
                    self.known[channel] = reset_to if reset_to is not None else int(backlog[-1].id) if backlog else current
            except Exception:  # a failed poll is tried again at the next tick
                logger.warning("Room events relay: could not poll", exc_info=True)


_relays: dict[int, _DatabaseRelay] = {}


async def _watch_in_database(channel: str) -> None:
    if not isinstance(get_storage(), DatabaseEventStorage):
        return
    loop = asyncio.get_running_loop()
    relay = _relays.get(id(loop))
    if relay is None or relay.loop is not loop:
        relay = _relays[id(loop)] = _DatabaseRelay(loop)
    await relay.watch(channel)


async def _frames(channel: str, *, user_id: int, after: int | None, keepalive: float) -> AsyncIterator[list[tuple[str, bytes]]]:
    """A room's events for one reader, as batches of (event type, frame): those after
    ``after`` from the log, then live ones as they are published in any process, each
    once and in order. Keep-alives and stream-resets come as ('', frame)."""
    listener = Listener()
    listener.user_id = user_id
    listener.channels = {channel}
    listener.assign_loop()
    manager = get_listener_manager()
    # Listening starts before the log is read, so nothing falls between the two.
    manager.add_listener(listener)
    try:
        await _watch_in_database(channel)
        cursor = after if after is not None else await _off_loop(_current_id, channel)
        backlog, reset_to = await _off_loop(_read_log, channel, cursor)
        if reset_to is not None:
            cursor = reset_to
            yield [("", _reset_frame(channel, cursor))]
        while True:
            batch: list[tuple[str, bytes]] = []
            for event in backlog:
                number = int(event.id)
                if number <= cursor:
                    continue  # already sent: read from the log and also queued live
                if number > cursor + 1:
                    # Missed live (the listener's queue is short): fill the gap from the log.
                    missing, _ = await _off_loop(_read_log, channel, cursor)
                    for old in missing:
                        if cursor < int(old.id) < number:
                            batch.append((old.type, _frame(channel, old)))
                            cursor = int(old.id)
                batch.append((event.type, _frame(channel, event)))
                cursor = number
            if batch:
                yield batch
            try:
                async with asyncio.timeout(keepalive):
                    await listener.aevent.wait()
            except TimeoutError:
                yield [("", KEEPALIVE)]
                continue
            with manager.lock:
                backlog = listener.channel_items.pop(channel, [])
                overflow, listener.overflow = listener.overflow, False
                listener.channel_items = {}
                listener.aevent.clear()
            if overflow:
                # Events beyond the listener's queue were dropped: take them from the log,
                # or, when it no longer reaches back (trimmed, or restarted by a reset), say so.
                backlog, reset_to = await _off_loop(_read_log, channel, cursor)
                if reset_to is not None:
                    cursor = reset_to
                    yield [("", _reset_frame(channel, cursor))]
    finally:
        manager.remove_listener(listener)


async def observe(channel: str, *, user_id: int, after: int | None, keepalive: float = 15.0) -> AsyncIterator[bytes]:
    """A room's events for one observer, from ``after`` on, until it goes away."""
    yield b": open\n\n"
    async for batch in _frames(channel, user_id=user_id, after=after, keepalive=keepalive):
        yield b"".join(frame for _, frame in batch)


async def follow_run(channel: str, *, user_id: int, after: int, ends_on: set[str], keepalive: float = 15.0) -> AsyncIterator[bytes]:
    """The events of the run a client has just started, from ``after`` (the channel's id
    before the start) up to and including the first of ``ends_on``."""
    yield b": open\n\n"
    async for batch in _frames(channel, user_id=user_id, after=after, keepalive=keepalive):
        body = b""
        for event_type, frame in batch:
            body += frame
            if event_type in ends_on:
                yield body
                return
        yield body


def current_id(room_id: str) -> int:
    """The id of a room's newest event (0 when none is kept)."""
    return _current_id(channel_name(room_id))
