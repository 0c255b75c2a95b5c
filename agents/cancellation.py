"""Stop signals that reach a running generation in whichever server process runs it.

Each process keeps the callbacks of the generations it runs, and listens on one channel
layer group; a stop request calls the local callback when the generation runs here, and
otherwise broadcasts on the group (in-memory within one process, Redis across processes).
One listener per process and event loop, so a stream costs no channel-layer traffic
unless someone actually asks it to stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

STOP_GROUP = "luxx.stop"
_REJOIN_SECONDS = 3600.0


class StopBus:
    def __init__(self) -> None:
        self._callbacks: dict[str, Callable[[], None]] = {}
        self._listeners: dict[int, asyncio.Task[None]] = {}

    def register(self, key: str, on_stop: Callable[[], None]) -> None:
        self._callbacks[key] = on_stop

    def unregister(self, key: str) -> None:
        self._callbacks.pop(key, None)

    def is_local(self, key: str) -> bool:
        return key in self._callbacks

    def _fire(self, key: str) -> bool:
        callback = self._callbacks.get(key)
        if callback is None:
            return False
        callback()
        return True

    async def ensure_listening(self) -> None:
        """Start this process's listener on the running loop (idempotent)."""
        loop = asyncio.get_running_loop()
        task = self._listeners.get(id(loop))
        if task is not None and not task.done():
            return
        layer = get_channel_layer()
        if layer is None:
            return
        channel = await layer.new_channel("luxx.stop.")
        await layer.group_add(STOP_GROUP, channel)
        self._listeners[id(loop)] = loop.create_task(self._listen(layer, channel), name="luxx-stop-listener")

    async def _listen(self, layer: object, channel: str) -> None:
        while True:
            try:
                async with asyncio.timeout(_REJOIN_SECONDS):
                    message = await layer.receive(channel)  # type: ignore[attr-defined]
            except TimeoutError:
                await layer.group_add(STOP_GROUP, channel)  # type: ignore[attr-defined]
                continue
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a broken layer must not kill the listener for good
                logger.warning("Stop listener: %s: %s; retrying", type(error).__name__, error)
                await asyncio.sleep(1.0)
                continue
            key = message.get("key")
            if isinstance(key, str):
                self._fire(key)

    async def request_stop(self, key: str) -> None:
        """Ask the generation ``key`` to stop, wherever it runs."""
        if self._fire(key):
            return
        layer = get_channel_layer()
        if layer is not None:
            await layer.group_send(STOP_GROUP, {"type": "luxx.stop", "key": key})


stop_bus = StopBus()
