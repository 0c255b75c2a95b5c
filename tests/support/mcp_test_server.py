"""A real MCP server made with the official SDK, for tests: served over streamable HTTP
on loopback by :class:`McpHttpServer`, or run as a stdio server (``python
mcp_test_server.py``), e.g. inside the sandbox. It imports nothing but the SDK, so the
sandbox's python can run it with the SDK's directory mounted read-only."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import socket

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError


def build_server() -> MCPServer:
    server = MCPServer("luxx-test-server")

    @server.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        return f"echo: {text}"

    @server.tool()
    def fail(reason: str = "it always fails") -> str:
        """A tool that reports an error."""
        raise ToolError(f"failed on purpose: {reason}")

    @server.tool()
    async def sleep(seconds: float) -> str:
        """Sleep, then answer."""
        await asyncio.sleep(seconds)
        return "awake"

    @server.tool()
    def big(size: int) -> str:
        """A result of `size` characters."""
        return "x" * size

    @server.tool()
    def env_length(name: str) -> int:
        """The length of an environment variable's value (-1 when unset)."""
        return len(os.environ[name]) if name in os.environ else -1

    @server.tool()
    def reveal_env(name: str) -> str:
        """An environment variable's value (to show results never carry secrets)."""
        return os.environ.get(name, "")

    @server.tool()
    def connect(host: str, port: int) -> str:
        """Try a TCP connection."""
        try:
            with socket.create_connection((host, port), timeout=2):
                return "connected"
        except OSError as error:
            return f"refused: {error}"

    @server.tool()
    def identity() -> str:
        """Who the server runs as, where, and under which resource limits."""
        limits = {name: resource.getrlimit(getattr(resource, f"RLIMIT_{name}"))[0] for name in IDENTITY_LIMITS}
        return json.dumps({"uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd(), "limits": limits}, sort_keys=True)

    return server


IDENTITY_LIMITS = ("AS", "CPU", "FSIZE", "NOFILE", "NPROC")
# The same report from any Python program (shell_execute runs it to compare).
IDENTITY_SCRIPT = (
    f"import json, os, resource; names = {IDENTITY_LIMITS!r}; "
    "limits = {n: resource.getrlimit(getattr(resource, 'RLIMIT_' + n))[0] for n in names}; "
    "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'cwd': os.getcwd(), 'limits': limits}, sort_keys=True))"
)


if __name__ == "__main__":
    build_server().run("stdio")
