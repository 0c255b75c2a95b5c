"""Serve an MCP server (the SDK's streamable HTTP app) with uvicorn in a thread on
127.0.0.1, recording the headers of every request it receives."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


class McpHttpServer:
    def __init__(self, app: Any, *, path: str = "/mcp"):
        self.seen_headers: list[dict[str, str]] = []
        self.path = path

        async def recording(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.seen_headers.append({k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]})
            await app(scope, receive, send)

        config = uvicorn.Config(recording, host="127.0.0.1", port=0, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="mcp-test-server", daemon=True)

    def start(self) -> McpHttpServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the MCP test server did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
