"""Pacing and faults shared by both protocols."""

from __future__ import annotations

import asyncio

from aiohttp import web

from fakellm.scenario import Scenario


class Pacer:
    """Sleeps so chunks leave at ``tokens_per_second`` (after ``ttft``), tracking an
    absolute schedule so per-chunk overhead does not slow the rate down."""

    def __init__(self, scenario: Scenario) -> None:
        self.ttft = scenario.ttft
        rate = scenario.tokens_per_second
        self.interval = scenario.chunk_tokens / rate if rate else 0.0
        self.loop = asyncio.get_running_loop()
        self.due = 0.0

    async def first(self) -> None:
        if self.ttft:
            await asyncio.sleep(self.ttft)
        self.due = self.loop.time()

    async def next(self) -> None:
        if not self.interval:
            return
        self.due += self.interval
        delay = self.due - self.loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


async def hang() -> None:
    """Send nothing more until the client gives up (the handler is then cancelled)."""
    await asyncio.sleep(3600)


def abort(request: web.Request) -> None:
    """Drop the TCP connection in the middle of the response."""
    transport = request.transport
    if transport is not None:
        transport.abort()
