"""Stop signals that reach a running generation in whichever server process runs it.

Each process keeps the callbacks of the generations it runs. A stop request calls the
local callback when the generation runs here; otherwise, with Redis configured, it is
published on one Redis pub/sub channel that every process with running generations
listens to. Without Redis there is one process, so local is everywhere.

A process listens only while it runs generations: the listener starts with the first
one registered on an event loop and ends with the last one, so an idle server holds no
subscription and logs nothing. The subscription reads without a socket timeout (a
health-check ping keeps a dead connection from going unnoticed), so a quiet channel is
not an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

_HEALTH_CHECK_SECONDS = 30


def _channel() -> str:
    layer: dict[str, Any] = settings.CHANNEL_LAYERS["default"]
    return f"{layer.get('CONFIG', {}).get('prefix', 'luxx')}:stop"


def _redis_client() -> Any:
    import redis.asyncio as redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=None, health_check_interval=_HEALTH_CHECK_SECONDS)


class _LoopListeners:
    """The generations of one event loop, and that loop's subscription while it has any."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.callbacks: dict[str, Callable[[], None]] = {}
        self.task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()


class StopBus:
    def __init__(self) -> None:
        self._loops: dict[int, _LoopListeners] = {}

    def _here(self) -> _LoopListeners:
        loop = asyncio.get_running_loop()
        entry = self._loops.get(id(loop))
        if entry is None or entry.loop is not loop:
            entry = self._loops[id(loop)] = _LoopListeners(loop)
        return entry

    def register(self, key: str, on_stop: Callable[[], None]) -> None:
        """Call ``on_stop`` (on this event loop) when someone asks ``key`` to stop."""
        entry = self._here()
        entry.callbacks[key] = on_stop
        if settings.REDIS_URL and (entry.task is None or entry.task.done()):
            entry.subscribed.clear()
            entry.task = entry.loop.create_task(self._listen(entry), name="luxx-stop-listener")

    async def ensure_listening(self) -> None:
        """Wait until stop requests from other processes reach this loop (a no-op without Redis)."""
        entry = self._here()
        if entry.task is not None and not entry.task.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await entry.subscribed.wait()

    def unregister(self, key: str) -> None:
        entry = self._here()
        entry.callbacks.pop(key, None)
        if not entry.callbacks:
            if entry.task is not None:
                entry.task.cancel()
            self._loops.pop(id(entry.loop), None)

    def is_local(self, key: str) -> bool:
        return any(key in entry.callbacks for entry in self._loops.values())

    def _fire(self, key: str) -> bool:
        for entry in list(self._loops.values()):
            callback = entry.callbacks.get(key)
            if callback is None:
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is entry.loop:
                callback()
            else:
                entry.loop.call_soon_threadsafe(callback)
            return True
        return False

    async def _listen(self, entry: _LoopListeners) -> None:
        while entry.callbacks:
            client = _redis_client()
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(_channel())
                entry.subscribed.set()
                async for message in pubsub.listen():
                    data = message.get("data")
                    key = data.decode() if isinstance(data, bytes) else data
                    callback = entry.callbacks.get(key) if isinstance(key, str) else None
                    if callback is not None:
                        callback()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the connection broke: say so, and subscribe again
                logger.warning("Stop listener lost Redis: %s: %s; reconnecting", type(error).__name__, error)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(pubsub.aclose())
                with contextlib.suppress(Exception):
                    await asyncio.shield(client.aclose())

    async def request_stop(self, key: str) -> None:
        """Ask the generation ``key`` to stop, wherever it runs."""
        if self._fire(key) or not settings.REDIS_URL:
            return
        client = _redis_client()
        try:
            await client.publish(_channel(), key)
        finally:
            await client.aclose()


stop_bus = StopBus()
