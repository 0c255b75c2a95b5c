"""How MCP servers and their tools are named in Luxx: ``mcp.<server>.<tool>``."""

from __future__ import annotations

import re

PREFIX = "mcp."
SERVER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# The MCP specification's tool names: 1-128 of these characters.
MCP_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
# Agents and chats enable tools by names of at most 64 characters, and the model APIs
# take no longer names either.
MAX_TOOL_NAME = 64


def tool_name(server: str, tool: str) -> str:
    return f"{PREFIX}{server}.{tool}"


def split_tool_name(name: str) -> tuple[str, str] | None:
    """``(server, tool)`` of a Luxx name, or None when it is not one. A server name has no
    dot, so the first dot after the prefix ends it (a tool name may contain dots)."""
    if not name.startswith(PREFIX):
        return None
    server, dot, tool = name[len(PREFIX) :].partition(".")
    if not dot or not SERVER_NAME.match(server) or not tool:
        return None
    return server, tool
