"""Mounting Luxx's MCP server at ``/mcp`` in front of the Django application.

The endpoint itself (:mod:`mcplink.endpoint`) imports the MCP SDK; it is imported on the
first ``/mcp`` request so that a server process that never serves MCP starts without it.
"""

from __future__ import annotations

from typing import Any

MCP_PATHS = ("/mcp", "/mcp/")


def with_mcp(django_app: Any) -> Any:
    """``django_app``, with ``/mcp`` answered by Luxx's MCP server."""

    async def application(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in MCP_PATHS:
            from mcplink.endpoint import mcp_endpoint

            await mcp_endpoint(scope, receive, send)
            return
        await django_app(scope, receive, send)

    return application
