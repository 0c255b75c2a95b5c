"""Reads of MCP servers, scoped to who may see them in one place."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _

from luxx.api import NotFound
from mcplink.models import McpServer, McpToken


def _visible(user_id: int) -> Any:
    return McpServer.objects.filter(Q(user_id=user_id) | Q(user__isnull=True))


def server_list_visible(*, user: Any) -> list[McpServer]:
    """The user's own servers and the shared ones."""
    return list(McpServer.objects.visible_to(user).order_by("user_id", "id"))


def server_get_visible(*, user: Any, server_id: int) -> McpServer:
    """A server the user can see: their own or a shared one (404 otherwise)."""
    server = McpServer.objects.visible_to(user).filter(pk=server_id).first()
    if server is None:
        raise NotFound(_("MCP server not found."))
    return server


def servers_with_tools_for(*, user_id: int) -> list[McpServer]:
    """The servers whose tools the user sees: their own, and the shared ones whose name
    none of their own takes (their own server wins a name)."""
    servers = list(_visible(user_id).order_by("id"))
    own = {server.name for server in servers if server.user_id == user_id}
    return [server for server in servers if server.user_id == user_id or server.name not in own]


def server_for_tools(*, user_id: int, name: str) -> McpServer | None:
    """The server called ``name`` whose tools the user sees (their own before a shared one)."""
    candidates = list(_visible(user_id).filter(name=name))
    return next((s for s in candidates if s.user_id == user_id), None) or next(iter(candidates), None)


def server_for_call(*, server_id: int, user_id: int) -> McpServer | None:
    """The server as it is now, if the user can still see it."""
    return _visible(user_id).filter(pk=server_id).first()


def token_list(*, user: Any) -> list[McpToken]:
    return list(McpToken.objects.owned_by(user))


def token_get_owned(*, user: Any, token_id: int) -> McpToken:
    token = McpToken.objects.owned_by(user).filter(pk=token_id).first()
    if token is None:
        raise NotFound(_("Token not found."))
    return token
