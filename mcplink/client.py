"""Talking to an MCP server with the official SDK: discovery and tool calls.

One session per operation: it opens, does one thing (list the tools, or call one) and
closes, inside the request or turn that asked, within the server's time limit. Nothing
is left running in between: no pooled session, no background task, no process (a stdio
server is started for the call, in the sandbox, and killed by the SDK's shutdown when
the call ends or times out).

* ``http``: streamable HTTP through :class:`mcplink.transport.GuardedTransport`, with the
  server's headers.
* ``stdio``: the command runs under bubblewrap with shell_execute's limits (the caller's
  workspace at /workspace, uid 65534, rlimits, the per-user and global concurrency caps),
  without network unless the administrator allowed it; the environment (which may hold
  tokens) is handed to the process, never put on its command line.

Every failure becomes :class:`McpFailure` with a message in plain words (and secrets
scrubbed out); ``unreachable`` tells a server that could not be reached or did not
start from one that answered with an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx2
import mcp_types
from django.conf import settings
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from mcplink.connection import CallOutcome, Connection, DiscoveredTool, McpFailure, scrub
from mcplink.transport import GuardedTransport, ResponseTooLarge
from toolbox import sandbox

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_TOOL_PAGES = 20
STDERR_TAIL_CHARS = 600
CLIENT_INFO = mcp_types.Implementation(name="Luxx", version=str(getattr(settings, "LUXX_VERSION", "1")))
HTTP_REASONS = {
    401: "it wants credentials: check the server's headers",
    403: "it refused the credentials: check the server's headers",
    404: "no MCP endpoint at this URL",
    405: "this URL does not accept MCP requests",
}


async def discover(conn: Connection, *, user_id: int, workspace: Path | None) -> list[DiscoveredTool]:
    """Every tool the server lists (all pages, up to MAX_TOOL_PAGES)."""

    async def work(client: Client) -> list[DiscoveredTool]:
        found: list[DiscoveredTool] = []
        cursor: str | None = None
        for _page in range(MAX_TOOL_PAGES):
            page = await client.list_tools(cursor=cursor)
            found += [DiscoveredTool(t.name, t.description or "", dict(t.input_schema)) for t in page.tools]
            cursor = page.next_cursor
            if not cursor:
                break
        return found

    return await _with_session(conn, work, user_id=user_id, workspace=workspace)


async def call_tool(
    conn: Connection, tool: str, arguments: dict[str, Any], *, user_id: int, workspace: Path | None, max_file_bytes: int | None = None
) -> CallOutcome:
    """One tool call. A tool that reports an error (``isError``) is an outcome, not a failure.
    ``max_file_bytes`` caps the files a stdio server writes (the workspace's space left)."""

    async def work(client: Client) -> CallOutcome:
        result = await client.call_tool(tool, arguments)
        return CallOutcome(is_error=bool(result.is_error), text=render_content(result))

    return await _with_session(conn, work, user_id=user_id, workspace=workspace, max_file_bytes=max_file_bytes)


def render_content(result: mcp_types.CallToolResult) -> str:
    """A tool result as text for a model: text blocks as they are, other blocks described."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, (mcp_types.ImageContent, mcp_types.AudioContent)):
            parts.append(f"[{block.type} {block.mime_type}, {len(block.data) * 3 // 4} bytes, not shown]")
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            if isinstance(resource, mcp_types.TextResourceContents):
                parts.append(resource.text)
            else:
                parts.append(f"[resource {resource.uri}, {resource.mime_type or 'binary'}, not shown]")
        elif isinstance(block, mcp_types.ResourceLink):
            parts.append(f"[resource link: {block.uri}]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    return "\n".join(parts)


# --- sessions -------------------------------------------------------------------------


async def _with_session(
    conn: Connection, work: Callable[[Client], Awaitable[T]], *, user_id: int, workspace: Path | None, max_file_bytes: int | None = None
) -> T:
    state = _SessionState(max_file_bytes=max_file_bytes)
    try:
        async with asyncio.timeout(conn.timeout):
            async with _session(conn, state, user_id=user_id, workspace=workspace) as client:
                state.connected = True
                return await work(client)
    except TimeoutError:
        raise McpFailure(f"The MCP server {conn.name} did not answer within {conn.timeout:g} seconds.", unreachable=False) from None
    except McpFailure:
        raise
    except sandbox.SandboxBusy as error:
        raise McpFailure(str(error), unreachable=False) from None
    except Exception as error:
        raise _failure(conn, state, error) from None


@dataclass
class _SessionState:
    connected: bool = False
    transport: GuardedTransport | None = None
    stderr: str = ""
    max_file_bytes: int | None = None


@contextlib.asynccontextmanager
async def _session(conn: Connection, state: _SessionState, *, user_id: int, workspace: Path | None) -> AsyncIterator[Client]:
    if conn.transport == "stdio":
        async with _stdio_session(conn, state, user_id=user_id, workspace=workspace) as client:
            yield client
        return
    transport = GuardedTransport(allow_private=conn.allow_private)
    state.transport = transport
    timeout = httpx2.Timeout(conn.timeout)
    async with (
        httpx2.AsyncClient(transport=transport, headers=conn.headers, timeout=timeout, follow_redirects=False) as http,
        Client(streamable_http_client(conn.url, http_client=http), cache=None, client_info=CLIENT_INFO) as client,
    ):
        yield client


@contextlib.asynccontextmanager
async def _stdio_session(conn: Connection, state: _SessionState, *, user_id: int, workspace: Path | None) -> AsyncIterator[Client]:
    available, reason = sandbox.sandbox_availability()
    if not available:
        raise McpFailure(f"The MCP server {conn.name} runs in the sandbox, which is unavailable here: {reason}", unreachable=True)
    if workspace is None:
        raise McpFailure(f"The MCP server {conn.name} needs a workspace to run in.", unreachable=False)
    limits = sandbox.SandboxLimits.from_settings(timeout=conn.timeout)
    if state.max_file_bytes is not None:
        limits = dataclasses.replace(limits, file_size_bytes=max(1, min(limits.file_size_bytes, state.max_file_bytes)))
    argv = sandbox.build_command(
        argv=[conn.command, *conn.args],
        workspace=workspace,
        limits=limits,
        network=conn.network,
        read_only_paths=[Path(p) for p in settings.LUXX_MCP_STDIO_PATHS],
        inherit_env=True,
    )
    # The SDK starts from a few of the server's own variables (HOME, PATH, USER, ...):
    # every one of them is set here, so nothing of the server's environment gets in.
    env = {"LOGNAME": "nobody", "USER": "nobody", "SHELL": "/bin/sh", "TERM": "dumb", **sandbox.sandbox_environment(), **conn.env}
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=env)
    await sandbox.limiter.acquire(user_id, wait=conn.timeout)
    try:
        # stderr goes to a file the sandbox's file-size limit bounds; its end explains a
        # server that did not start.
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
            try:
                async with Client(stdio_client(params, errlog=errlog), cache=None, client_info=CLIENT_INFO) as client:
                    yield client
            except Exception:
                state.stderr = _tail(errlog)
                raise
    finally:
        sandbox.limiter.release(user_id)


# --- failures -------------------------------------------------------------------------


def _leaf(error: BaseException) -> BaseException:
    """The first real error inside the SDK's task groups' exception groups."""
    while isinstance(error, BaseExceptionGroup):
        inner = [e for e in error.exceptions if not isinstance(e, asyncio.CancelledError)]
        error = (inner or list(error.exceptions))[0]
    return error


def _failure(conn: Connection, state: _SessionState, error: BaseException) -> McpFailure:
    leaf = _leaf(error)
    name = conn.name
    status = state.transport.last_status if state.transport is not None else None
    if isinstance(leaf, ResponseTooLarge):
        # The server answered, only too much: a failed call, not a server that is down.
        message, unreachable = f"The MCP server {name} sent more than {leaf.limit // 2**20} MB in one response; ask it for less.", False
    elif isinstance(leaf, httpx2.TimeoutException):
        message, unreachable = f"The MCP server {name} did not answer within {conn.timeout:g} seconds.", False
    elif status is not None and status >= 400 and not state.connected:
        reason = HTTP_REASONS.get(status, "the server failed" if status >= 500 else "the request was refused")
        message, unreachable = f"The MCP server {name} answered HTTP {status}: {reason}.", True
    elif isinstance(leaf, httpx2.HTTPError):
        message, unreachable = f"The MCP server {name} could not be reached: {_sentence(leaf)}", True
    elif isinstance(leaf, MCPError):
        what = "refused the call" if state.connected else "could not start a session"
        message, unreachable = f"The MCP server {name} {what}: {_sentence(leaf)}", not state.connected
    elif isinstance(leaf, OSError):
        message, unreachable = f"The MCP server {name} could not be started: {_sentence(leaf)}", True
    else:
        logger.warning("MCP server %s failed", name, exc_info=leaf)
        message, unreachable = f"The MCP server {name} failed: {type(leaf).__name__}: {leaf}", not state.connected
    if state.stderr and not state.connected:
        message = f"{message} Its error output: {state.stderr}"
    return McpFailure(scrub(message, conn.secrets), unreachable=unreachable)


def _sentence(error: BaseException) -> str:
    """An error's text ending in one full stop."""
    text = str(error).strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _tail(errlog: IO[str]) -> str:
    """The end of a server's error output, on one line."""
    with contextlib.suppress(OSError, ValueError):
        errlog.flush()
        errlog.seek(0, 2)
        size = errlog.tell()
        errlog.seek(max(0, size - STDERR_TAIL_CHARS * 4))
        return " ".join(errlog.read().split())[-STDERR_TAIL_CHARS:]
    return ""
