"""The observers' side of rooms on django-eventstream: who may read a room's channel, where
its events are kept for ``Last-Event-ID`` replay, and how a run publishes them cheaply.

A run publishes every chunk, so the replay log must not cost a database write per chunk
(the library's ``DjangoModelStorage`` takes a row lock, two inserts and a trim query per
event). Events are kept instead:

- in Redis when ``REDIS_URL`` is set (one Lua call per event: id, append, trim, expiry),
  which every server process shares, together with the library's Redis pub/sub;
- in this process's memory otherwise: without Redis there is one server process (the
  channel layer is in memory too), and it is the only reader.

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
and sends each event exactly once, in order, filling any gap from the log.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import orjson
from django.conf import settings
from django_eventstream.channelmanager import DefaultChannelManager
from django_eventstream.event import Event
from django_eventstream.storage import EventDoesNotExist, StorageBase
from django_eventstream.utils import get_storage, parse_last_event_id
from django_eventstream.views import Listener, get_listener_manager

from luxx.sse import KEEPALIVE
from rooms.models import ChatRoom

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


class _Log:
    __slots__ = ("events", "last_id", "touched")

    def __init__(self) -> None:
        self.events: deque[tuple[int, str, Any]] = deque()
        self.last_id = 0
        self.touched = time.monotonic()


class MemoryEventStorage(StorageBase):
    """Replay log in this process's memory (the single-process set-up, without Redis).

    The library makes one storage instance per thread, so the log is the class's."""

    max_channels = 1024
    _lock = threading.Lock()
    _logs: OrderedDict[str, _Log] = OrderedDict()

    def append_event(self, channel: str, event_type: str, data: Any, *, restart: bool = False) -> Event:
        """Store an event; ``restart`` drops the events before it (see :func:`send`)."""
        now = time.monotonic()
        with self._lock:
            log = self._logs.get(channel)
            if log is None:
                log = self._logs[channel] = _Log()
            self._logs.move_to_end(channel)
            log.touched = now
            log.last_id += 1
            if restart:
                log.events.clear()
            log.events.append((log.last_id, event_type, data))
            while len(log.events) > _max_events():
                log.events.popleft()
            self._evict(now)
            return Event(channel, event_type, data, id=log.last_id)

    def _evict(self, now: float) -> None:
        """Drop the least recently used logs: over the channel budget, or idle past the TTL."""
        while self._logs:
            channel, oldest = next(iter(self._logs.items()))
            if len(self._logs) <= self.max_channels and now - oldest.touched < _ttl():
                break
            del self._logs[channel]

    def get_events(self, channel: str, last_id: int, limit: int = 100) -> list[Event]:
        with self._lock:
            log = self._logs.get(channel)
            current = log.last_id if log else 0
            if last_id == current:
                return []
            first = log.events[0][0] if log and log.events else current + 1
            if log is None or last_id > current or last_id < first - 1:
                raise EventDoesNotExist(f"No such event {last_id}", current)
            start = last_id - first + 1
            picked = [log.events[i] for i in range(start, min(start + limit, len(log.events)))]
        return [Event(channel, kind, data, id=event_id) for event_id, kind, data in picked]

    def get_current_id(self, channel: str) -> int:
        with self._lock:
            log = self._logs.get(channel)
            return log.last_id if log else 0


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
    """``django_eventstream.send_event`` for Luxx: store, then deliver to the listeners of
    every process, without the library's GRIP-proxy publish (Luxx runs no GRIP proxy,
    and that step alone took ~175 µs of the loop's time per event) and, with Redis, in one
    round trip instead of three. ``data`` is already JSON.

    ``restart``: the log keeps this event alone, so that a replay from before it is a
    ``stream-reset`` (the events before it no longer describe the room)."""
    storage = get_storage()
    if isinstance(storage, RedisEventStorage):
        storage.append_event(channel, event_type, data, publish=True, restart=restart)
        return
    event = storage.append_event(channel, event_type, data, restart=restart)
    get_listener_manager().add_to_queues(channel, event)


_publisher: ThreadPoolExecutor | None = None
_publisher_lock = threading.Lock()


def _publisher_pool() -> ThreadPoolExecutor:
    global _publisher
    with _publisher_lock:
        if _publisher is None:
            _publisher = ThreadPoolExecutor(max_workers=4, thread_name_prefix="luxx-room-events")
        return _publisher


def _send_args(room_id: str, event_type: str, data: dict[str, Any]) -> tuple[str, str, str]:
    # Encoded once, as UTF-8 JSON without ASCII escapes, like the starter's own frames.
    return channel_name(room_id), event_type, orjson.dumps(data).decode()


async def publish(room_id: str, event_type: str, data: dict[str, Any]) -> None:
    """Store the event for replay and deliver it to the room's observers, in every process.

    In memory this is a few microseconds of CPU and runs on the loop; with Redis it is one
    short round trip, run on a small pool of its own so that database work queued by other
    rooms never delays a chunk.
    """
    args = _send_args(room_id, event_type, data)
    if getattr(settings, "EVENTSTREAM_REDIS", None):
        await asyncio.get_running_loop().run_in_executor(_publisher_pool(), send, *args)
    else:
        send(*args)


def publish_reset(room_id: str) -> None:
    """Tell the room's observers, in every process, that the room was reset (its turns
    deleted), and restart its replay log with that event. For synchronous code: the
    caller's thread waits for the one Redis round trip, if any."""
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


async def _in_thread_if_redis(function: Any, *args: Any) -> Any:
    if getattr(settings, "EVENTSTREAM_REDIS", None):
        return await asyncio.get_running_loop().run_in_executor(_publisher_pool(), function, *args)
    return function(*args)


async def observe(channel: str, *, user_id: int, after: int | None, keepalive: float = 15.0) -> AsyncIterator[bytes]:
    """A room's events for one observer: those after ``after`` from the log, then live
    ones as they are published in any process, each once and in order."""
    listener = Listener()
    listener.user_id = user_id
    listener.channels = {channel}
    listener.assign_loop()
    manager = get_listener_manager()
    # Listening starts before the log is read, so nothing falls between the two.
    manager.add_listener(listener)
    try:
        yield b": open\n\n"
        cursor = after if after is not None else await _in_thread_if_redis(_current_id, channel)
        backlog, reset_to = await _in_thread_if_redis(_read_log, channel, cursor)
        if reset_to is not None:
            cursor = reset_to
            yield _reset_frame(channel, cursor)
        while True:
            body = b""
            for event in backlog:
                number = int(event.id)
                if number <= cursor:
                    continue  # already sent: read from the log and also queued live
                if number > cursor + 1:
                    # Missed live (the listener's queue is short): fill the gap from the log.
                    missing, _ = await _in_thread_if_redis(_read_log, channel, cursor)
                    for old in missing:
                        if cursor < int(old.id) < number:
                            body += _frame(channel, old)
                            cursor = int(old.id)
                body += _frame(channel, event)
                cursor = number
            if body:
                yield body
            try:
                async with asyncio.timeout(keepalive):
                    await listener.aevent.wait()
            except TimeoutError:
                yield KEEPALIVE
                continue
            with manager.lock:
                backlog = listener.channel_items.pop(channel, [])
                overflow, listener.overflow = listener.overflow, False
                listener.channel_items = {}
                listener.aevent.clear()
            if overflow:
                # Events beyond the listener's queue were dropped: take them from the log,
                # or, when it no longer reaches back (trimmed, or restarted by a reset), say so.
                backlog, reset_to = await _in_thread_if_redis(_read_log, channel, cursor)
                if reset_to is not None:
                    cursor = reset_to
                    yield _reset_frame(channel, cursor)
    finally:
        manager.remove_listener(listener)
