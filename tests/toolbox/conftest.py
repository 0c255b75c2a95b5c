from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from accounts.models import PermissionLevel
from tests.support.factories import make_user
from toolbox import sandbox
from toolbox.registry import ToolContext, ToolOutcome, tool_execute


@pytest.fixture(autouse=True)
def workspace_root(settings: Any) -> Iterator[Path]:
    """A workspace root the sandbox uid can reach: the suite's data directory is 0700,
    and bwrap runs as uid 65534, so workspaces live in their own searchable directory."""
    root = Path(tempfile.mkdtemp(prefix="luxx-ws-"))
    root.chmod(0o711)
    settings.LUXX_WORKSPACE_ROOT = root
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _sandbox_probe_cache() -> Iterator[None]:
    sandbox.reset_availability_cache()
    yield
    sandbox.reset_availability_cache()


async def make_ctx(level: int = PermissionLevel.EXECUTE, **extra: Any) -> ToolContext:
    user = await sync_to_async(make_user)(level=level, **extra)
    return ToolContext.for_user(user)


async def call(name: str, arguments: dict[str, Any], ctx: ToolContext) -> tuple[ToolOutcome, Any]:
    """Run a tool through the registry; the outcome and its decoded content."""
    outcome = await tool_execute(name=name, arguments=arguments, ctx=ctx)
    try:
        return outcome, json.loads(outcome.content)
    except json.JSONDecodeError:
        return outcome, outcome.content


class Listener:
    """TCP and UDP sockets on 127.0.0.1 that count what reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.tcp.settimeout(0.1)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.1)
        self.port = self.tcp.getsockname()[1]
        self.udp_port = self.udp.getsockname()[1]
        self.connections = 0
        self.datagrams = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True), threading.Thread(target=self._receive, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                self.udp.recvfrom(4096)
            except OSError:
                continue
            self.datagrams += 1

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(1)
        self.tcp.close()
        self.udp.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    item = Listener()
    yield item
    item.close()


def sandbox_pids() -> set[int]:
    """Processes of the sandbox uid, zombies included (they count against its process limit).

    Every test's sandbox runs count here, so a test that compares two of these readings is
    marked ``serial``: beside the parallel workers it would see their runs as leftovers."""
    import psutil

    return {p.pid for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == sandbox.SANDBOX_UID}


async def leftover_sandbox_pids(before: set[int]) -> set[int]:
    """New sandbox processes, after giving a killed sandbox a moment to be reaped."""
    import asyncio

    for _ in range(20):
        left = sandbox_pids() - before
        if not left:
            return left
        await asyncio.sleep(0.1)
    return left


requires_sandbox = pytest.mark.skipif(
    os.environ.get("CI") != "true" and shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install bubblewrap)"
)
CallTool = Callable[..., Any]
