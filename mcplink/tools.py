"""MCP servers' tools in the tool registry, as ``mcp.<server>.<tool>``.

The registry asks :class:`McpToolSource` for a user's tools whenever a name starts with
``mcp.``; the tools are built from the tools each server's last discovery cached, so
listing them never contacts a server. A call opens a session to the server for that call
only (see :mod:`mcplink.client`); everything else — the permission level, the argument
schema, the time limit, the audit record in ToolExecution, a failure as a failed result
— is the registry's, exactly as for a built-in tool.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from luxx.db import run_db
from mcplink import selectors, services
from mcplink.connection import Connection, McpFailure, scrub
from mcplink.models import McpHealth, McpServer, McpTransport
from mcplink.names import PREFIX, split_tool_name, tool_name
from toolbox import sandbox
from toolbox.registry import MAX_RESULT_CHARS, AvailabilityCheck, Tool, ToolCategory, ToolContext, ToolError, ToolHandler

# Time beyond the server's own limit for a stdio server to start and for any session to
# close; the registry's limit is only the backstop behind the client's.
TIME_LIMIT_MARGIN = 15.0


class McpToolSource:
    prefix = PREFIX

    def tools_for(self, user_id: int) -> list[Tool]:
        return [tool for server in selectors.servers_with_tools_for(user_id=user_id) for tool in server_tools(server)]

    def tool_for(self, name: str, user_id: int) -> Tool | None:
        parts = split_tool_name(name)
        if parts is None:
            return None
        server = selectors.server_for_tools(user_id=user_id, name=parts[0])
        if server is None:
            return None
        return next((tool for tool in server_tools(server) if tool.name == name), None)


def server_tools(server: McpServer) -> list[Tool]:
    availability = _availability(server)
    return [
        Tool(
            name=tool_name(server.name, item["name"]),
            description=item.get("description") or f"The {item['name']} tool of the MCP server {server.name}.",
            category=ToolCategory.MCP,
            parameters=item.get("input_schema") or {"type": "object"},
            required_level=server.required_level,
            handler=_handler(server.pk, item["name"], server.status),
            timeout=server.timeout_seconds + TIME_LIMIT_MARGIN,
            availability=availability,
        )
        for item in server.tools or ()
        if isinstance(item, dict) and item.get("name")
    ]


def _availability(server: McpServer) -> AvailabilityCheck:
    name, enabled, transport = server.name, server.enabled, server.transport
    status, checked_at, last_error = server.status, server.checked_at, server.last_error

    def check() -> tuple[bool, str]:
        if not enabled:
            return False, f"The MCP server {name} is disabled."
        if transport == McpTransport.STDIO:
            available, reason = sandbox.sandbox_availability()
            if not available:
                return False, f"The MCP server {name} runs in the sandbox, which is unavailable: {reason}"
        if status == McpHealth.DOWN and checked_at is not None and _recently(checked_at):
            return False, f"The MCP server {name} could not be reached at {checked_at:%Y-%m-%d %H:%M:%S} UTC: {last_error}"
        return True, ""

    return check


def _recently(moment: datetime) -> bool:
    return timezone.now() - moment < timedelta(seconds=settings.LUXX_MCP_RETRY_SECONDS)


def _handler(server_id: int, mcp_name: str, known_status: str) -> ToolHandler:
    async def handle(arguments: dict[str, Any], ctx: ToolContext) -> str:
        return await call_server_tool(server_id=server_id, tool=mcp_name, arguments=arguments, ctx=ctx, known_status=known_status)

    return handle


async def _workspace_room(ctx: ToolContext) -> tuple[Path, int]:
    """The caller's workspace for a stdio server, and the space left in it: as for code
    runs, a server does not start in a full workspace and no file it writes may grow past
    what is left (its RLIMIT_FSIZE)."""
    from toolbox import workspace

    ws = await workspace.workspace_for_async(ctx)
    try:
        used = await workspace.run_file_op(ctx.user_id, workspace.usage_bytes, ws)
    except workspace.WorkspaceChanged:
        used = 0
    quota = workspace.quota_bytes()
    if used >= quota:
        raise ToolError(
            f"The workspace uses {used // 2**20} MB of its {settings.LUXX_WORKSPACE_QUOTA_MB} MB quota: "
            "delete files (file_delete) before using this MCP server."
        )
    return ws, quota - used


def _connection(*, server_id: int, user_id: int) -> Connection | None:
    server = selectors.server_for_call(server_id=server_id, user_id=user_id)
    if server is None or not server.enabled:
        return None
    return services.connection_for(server)


async def call_server_tool(*, server_id: int, tool: str, arguments: dict[str, Any], ctx: ToolContext, known_status: str) -> str:
    """Call one tool; every failure is a ToolError in plain words (the server's health is
    recorded when it could not be reached, and again when it answers after that)."""
    conn = await run_db(_connection, server_id=server_id, user_id=ctx.user_id)
    if conn is None:
        raise ToolError("This MCP server was removed or disabled.")
    workspace, room = None, None
    if conn.transport == McpTransport.STDIO:
        workspace, room = await _workspace_room(ctx)
    from mcplink import client

    try:
        outcome = await client.call_tool(conn, tool, arguments, user_id=ctx.user_id, workspace=workspace, max_file_bytes=room)
    except McpFailure as failure:
        if failure.unreachable:
            await run_db(services.server_record_health, server_id=server_id, error=failure.message)
        raise ToolError(failure.message) from None
    if known_status != McpHealth.OK:
        await run_db(services.server_record_health, server_id=server_id, error=None)
    text = scrub(outcome.text, conn.secrets)
    if outcome.is_error:
        raise ToolError(f"The tool {tool} of the MCP server {conn.name} reported an error: {text[:4000]}")
    if len(text) > MAX_RESULT_CHARS:
        raise ToolError(
            f"The tool {tool} of the MCP server {conn.name} returned {len(text):,} characters, "
            f"more than the {MAX_RESULT_CHARS:,} a tool result may have; ask it for less."
        )
    return text
