"""Writes on MCP servers: add, change, remove, discover their tools, record their health.

Who may do what: any user adds HTTP servers of their own; administrators also add shared
servers, stdio servers (run in the sandbox, with or without network) and set the
permission level a server's tools need. A URL on a loopback or private address is for
administrators' and shared servers only, unless LUXX_MCP_PRIVATE_URLS says otherwise.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone
from rest_framework import exceptions

from agents.urlcheck import looks_local, points_to_private_network
from luxx.api import Forbidden
from luxx.db import write_transaction
from mcplink.connection import Connection, DiscoveredTool, McpFailure
from mcplink.models import McpHealth, McpServer, McpToken, McpTransport
from mcplink.names import MAX_TOOL_NAME, MCP_TOOL_NAME, tool_name
from toolbox.registry import LEVEL_NAMES, ToolContext, ToolError

MAX_TOOLS_PER_SERVER = 128
MAX_DESCRIPTION_CHARS = 2000
ADMIN_ONLY_FIELDS = ("shared", "required_level", "command", "args", "env", "network")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
# Headers the HTTP client and the MCP transport set themselves.
RESERVED_HEADERS = {"host", "content-length", "content-type", "accept", "connection", "transfer-encoding", "mcp-session-id"}


def _invalid(field_name: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({field_name: [message]})


def _is_admin(user: Any) -> bool:
    return bool(getattr(user, "is_luxx_admin", False))


# --- checks ----------------------------------------------------------------------------


def server_check_url(*, url: str, private_allowed: bool) -> None:
    """http(s) with a host, no credentials or fragment; a private address only where allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid("url", "Use an http:// or https:// URL with a host.")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked for it
    except ValueError:
        raise _invalid("url", "The URL's port is not a number from 0 to 65535.") from None
    if parts.username or parts.password:
        raise _invalid("url", "Put credentials in headers (e.g. Authorization), not in the URL.")
    if parts.fragment:
        raise _invalid("url", "The URL must not have a #fragment.")
    if private_allowed or not _reaches_private_network(url):
        return
    if settings.LUXX_MCP_PRIVATE_URLS == "none":
        raise _invalid("url", "MCP servers on loopback or private addresses are disabled on this server.")
    raise _invalid("url", "Only administrators may add an MCP server on a loopback or private address.")


def _reaches_private_network(url: str) -> bool:
    """Whether the URL's host is, or now resolves to, a private address that
    LUXX_FETCH_ALLOWED_ADDRESSES does not allow (the guard at each connection allows those
    too, so a server there is kept to the same rule when it is saved)."""
    from toolbox import netguard

    allowed = netguard.allowed_private_addresses()
    if not allowed:
        return points_to_private_network(url)
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    literal = netguard.parse_ip_literal(host)
    try:
        found = [str(literal)] if literal is not None else netguard.resolve_host_sync(host, port)
    except netguard.ResolutionError:
        return looks_local(url)
    addresses = [a for a in (netguard.parse_ip_literal(item.split("%", 1)[0]) for item in found) if a is not None]
    return any(not netguard.is_public_address(a) and (str(a), port) not in allowed for a in addresses)


def private_urls_allowed(*, owner: Any, shared: bool) -> bool:
    """Whether a server of this owner may be on a loopback or private address."""
    policy = settings.LUXX_MCP_PRIVATE_URLS
    if policy == "all":
        return True
    if policy == "none":
        return False
    return shared or _is_admin(owner)


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            raise _invalid("headers", f"{name!r} is not a valid header name.")
        if name.lower() in RESERVED_HEADERS:
            raise _invalid("headers", f"The header {name} is set by Luxx itself.")
        if any(ch in value for ch in "\r\n\x00") or not value.isascii():
            raise _invalid("headers", f"The value of {name} must be printable ASCII on one line.")
    return headers


def _check_permissions(*, user: Any, data: dict[str, Any], server: McpServer | None) -> None:
    if _is_admin(user):
        return
    if server is not None and server.is_shared:
        raise Forbidden("Shared MCP servers can only be changed by administrators.")
    transport = data.get("transport", server.transport if server else McpTransport.HTTP)
    if transport == McpTransport.STDIO:
        raise Forbidden("Only administrators may add stdio MCP servers (they run programs on this server).")
    for name in ADMIN_ONLY_FIELDS:
        if name in data and (name != "shared" or data[name]):
            raise Forbidden(f"Only administrators may set {name}.")


# --- writes ----------------------------------------------------------------------------


@dataclass
class DiscoveryReport:
    """What a discovery found: the tools kept, those left out and why, and the health."""

    server: McpServer
    skipped: list[dict[str, str]] = field(default_factory=list)
    error: str = ""


def server_create(*, user: Any, data: dict[str, Any]) -> DiscoveryReport:
    """Add a server, then discover its tools (a server that does not answer is kept, with
    its status ``down`` and the reason)."""
    _check_permissions(user=user, data=data, server=None)
    data = dict(data)
    shared = bool(data.pop("shared", False))
    server = McpServer(user=None if shared else user)
    _apply(server, data, user=user)
    _check_complete(server)
    _save(server)
    return server_refresh(server=server, user=user)


def server_update(*, server: McpServer, user: Any, data: dict[str, Any]) -> DiscoveryReport:
    """Partial update; ``headers``/``env`` omitted keep them, ``{}`` clears them. A change
    of how the server is reached discovers its tools again."""
    _check_permissions(user=user, data=data, server=server)
    data = dict(data)
    if "shared" in data:
        raise _invalid("shared", "A server cannot be moved between shared and personal; add a new one.")
    reconnect = any(name in data for name in ("transport", "url", "headers", "command", "args", "env", "network"))
    _apply(server, data, user=user)
    _check_complete(server)
    _save(server)
    if reconnect or (data.get("enabled") and not server.tools):
        return server_refresh(server=server, user=user)
    return DiscoveryReport(server=server)


def server_delete(*, server: McpServer, user: Any) -> None:
    if server.is_shared and not _is_admin(user):
        raise Forbidden("Shared MCP servers can only be deleted by administrators.")
    with write_transaction():
        server.delete()


def _apply(server: McpServer, data: dict[str, Any], *, user: Any) -> None:
    if "headers" in data:
        server.headers = check_headers(data.pop("headers") or {})
    if "env" in data:
        server.env = data.pop("env") or {}
    if "args" in data:
        server.args = list(data.pop("args") or [])
    for name, value in data.items():
        setattr(server, name, value)
    if server.transport == McpTransport.HTTP and server.url:
        server_check_url(url=server.url, private_allowed=private_urls_allowed(owner=user, shared=server.is_shared))


def _check_complete(server: McpServer) -> None:
    if server.transport == McpTransport.HTTP and not server.url:
        raise _invalid("url", "An http MCP server needs its URL.")
    if server.transport == McpTransport.STDIO and not server.command:
        raise _invalid("command", "A stdio MCP server needs the command that starts it.")


def _save(server: McpServer) -> None:
    try:
        with write_transaction():
            server.save()
    except IntegrityError:
        raise _invalid("name", f"There is already an MCP server called {server.name}.") from None


def server_refresh(*, server: McpServer, user: Any) -> DiscoveryReport:
    """List the server's tools again and cache them; on failure keep the cached ones and
    record the server as down."""
    if server.is_shared and not _is_admin(user):
        raise Forbidden("Shared MCP servers can only be refreshed by administrators.")
    conn = connection_for(server)
    from toolbox.workspace import workspace_for

    try:
        workspace = workspace_for(ToolContext.for_user(user)) if server.transport == McpTransport.STDIO else None
        from mcplink import client

        found = async_to_sync(client.discover)(conn, user_id=user.pk, workspace=workspace)
    except (McpFailure, ToolError) as error:
        failure = error if isinstance(error, McpFailure) else McpFailure(str(error), unreachable=False)
        now = timezone.now()
        with write_transaction():
            McpServer.objects.filter(pk=server.pk).update(status=McpHealth.DOWN, last_error=failure.message[:2000], checked_at=now)
        server.status, server.last_error, server.checked_at = McpHealth.DOWN, failure.message[:2000], now
        return DiscoveryReport(server=server, error=failure.message)
    kept, skipped = accept_tools(server.name, found)
    now = timezone.now()
    fields = {"tools": kept, "status": McpHealth.OK, "last_error": "", "checked_at": now, "tools_refreshed_at": now}
    with write_transaction():
        McpServer.objects.filter(pk=server.pk).update(**fields)
    for name, value in fields.items():
        setattr(server, name, value)
    return DiscoveryReport(server=server, skipped=skipped)


def accept_tools(server_name: str, found: list[DiscoveredTool]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The tools Luxx can offer a model, and the others with the reason they are left out."""
    kept: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    seen: set[str] = set()
    for tool in found:
        reason = ""
        if not MCP_TOOL_NAME.match(tool.name):
            reason = "Not a valid MCP tool name (1-128 letters, digits, _ - .)."
        elif len(tool_name(server_name, tool.name)) > MAX_TOOL_NAME:
            reason = f"{tool_name(server_name, tool.name)} is longer than {MAX_TOOL_NAME} characters; use a shorter server name."
        elif tool.name in seen:
            reason = "Listed twice."
        elif len(kept) >= MAX_TOOLS_PER_SERVER:
            reason = f"The server lists more than {MAX_TOOLS_PER_SERVER} tools."
        else:
            schema, reason = _usable_schema(tool.input_schema)
        if reason:
            skipped.append({"name": tool.name[:200], "reason": reason})
            continue
        seen.add(tool.name)
        kept.append({"name": tool.name, "description": tool.description[:MAX_DESCRIPTION_CHARS], "input_schema": schema})
    return kept, skipped


def _usable_schema(schema: Any) -> tuple[dict[str, Any], str]:
    if not isinstance(schema, dict):
        return {}, "Its input schema is not a JSON object."
    schema = dict(schema)
    schema.setdefault("type", "object")
    if schema["type"] != "object":
        return {}, "Its input schema does not describe an object of arguments."
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as error:
        return {}, f"Its input schema is not valid JSON Schema: {error.message}"
    return schema, ""


def connection_for(server: McpServer) -> Connection:
    """How to reach the server now (secrets decrypted; private addresses as the owner's
    level and the policy allow today)."""
    owner = server.user if server.user_id is not None else None
    return Connection(
        server_id=server.pk,
        name=server.name,
        transport=server.transport,
        url=server.url,
        headers=server.headers,
        command=server.command,
        args=tuple(server.args or ()),
        env=server.env,
        network=server.network,
        timeout=server.timeout_seconds,
        allow_private=private_urls_allowed(owner=owner, shared=server.is_shared),
    )


def server_record_health(*, server_id: int, error: str | None) -> None:
    """A call reached the server (``error`` None) or found it unreachable."""
    now = timezone.now()
    with write_transaction():
        if error is None:
            McpServer.objects.filter(pk=server_id).update(status=McpHealth.OK, last_error="", checked_at=now)
        else:
            McpServer.objects.filter(pk=server_id).update(status=McpHealth.DOWN, last_error=error[:2000], checked_at=now)


def level_name(level: int) -> str:
    return LEVEL_NAMES.get(level, str(level))


# --- personal tokens for MCP clients --------------------------------------------------

TOKEN_PREFIX = "luxx_mcp_"
MAX_TOKENS_PER_USER = 20
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    """A new token: the stored record, and the token itself (shown once, never stored)."""

    record: McpToken
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(*, user: Any, name: str, expires_in_days: int | None = None) -> IssuedToken:
    if McpToken.objects.owned_by(user).count() >= MAX_TOKENS_PER_USER:
        raise _invalid("name", f"You have {MAX_TOKENS_PER_USER} tokens already: revoke one first.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    with write_transaction():
        record = McpToken.objects.create(
            user=user, name=name, prefix=secret[: len(TOKEN_PREFIX) + 6], digest=_digest(secret), expires_at=expires_at
        )
    return IssuedToken(record=record, secret=secret)


def token_revoke(*, token: McpToken) -> None:
    with write_transaction():
        token.delete()


def token_authenticate(secret: str) -> tuple[int, datetime | None] | None:
    """The user id and expiry of a valid token (its owner active), or None. The last use
    is recorded at most once a minute, so a busy client does not write on every request."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = McpToken.objects.select_related("user").filter(digest=_digest(secret)).first()
    now = timezone.now()
    if token is None or not token.user.is_active or (token.expires_at is not None and token.expires_at <= now):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        with write_transaction():
            McpToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user_id, token.expires_at
