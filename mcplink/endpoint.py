"""The ``/mcp`` endpoint: Luxx's MCP server over streamable HTTP, in front of Django.

Authentication: ``Authorization: Bearer <token>``, either the API's access token (the
same JWT as ``/api/``) or a personal MCP token (``luxx_mcp_…``, made in Settings, valid
here only); refused when expired, revoked or its user is inactive. The SDK's bearer
middleware checks it with :class:`LuxxTokenVerifier`; without one the answer is 401
with a ``WWW-Authenticate`` header. The Host header must be one of ALLOWED_HOSTS, as for Django.

Each request gets its own stateless session manager, entered and left within the request:
no MCP session, task or task group outlives the request that opened it (which is also
why any number of server processes can answer, with no session affinity).
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.middleware.authentication import AuthenticationMiddleware

from luxx.db import run_db

ASGIApp = Any


def _verify(raw: str) -> AccessToken | None:
    from mcplink.services import TOKEN_PREFIX, token_authenticate

    if raw.startswith(TOKEN_PREFIX):
        found = token_authenticate(raw)
        if found is None:
            return None
        user_id, expires_at = found
        expiry = int(expires_at.timestamp()) if expires_at is not None else None
        return AccessToken(token=raw, client_id=f"luxx-user-{user_id}", scopes=[], expires_at=expiry, subject=str(user_id))
    return _verify_jwt(raw)


def _verify_jwt(raw: str) -> AccessToken | None:
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

    from accounts.authentication import LuxxJWTAuthentication

    authentication = LuxxJWTAuthentication()
    try:
        validated = authentication.get_validated_token(raw.encode())
        user = authentication.get_user(validated)
    except (InvalidToken, TokenError, AuthenticationFailed):
        return None
    if not user.is_active:
        return None
    return AccessToken(
        token=raw, client_id=f"luxx-user-{user.pk}", scopes=[], expires_at=int(validated.get("exp", time.time())), subject=str(user.pk)
    )


class LuxxTokenVerifier:
    """The SDK's TokenVerifier over Luxx's own access tokens."""

    async def verify_token(self, token: str) -> AccessToken | None:
        return await run_db(_verify, token)


async def _serve(scope: Any, receive: Any, send: Any) -> None:
    from mcplink.server import luxx_mcp

    # The SDK's MCPServer wraps a low-level Server; the session manager serves that one.
    manager = StreamableHTTPSessionManager(app=luxx_mcp._lowlevel_server, stateless=True, json_response=True)
    async with manager.run():
        await manager.handle_request(scope, receive, send)


_authenticated: ASGIApp = AuthenticationMiddleware(
    AuthContextMiddleware(RequireAuthMiddleware(_serve, required_scopes=[])), backend=BearerAuthBackend(LuxxTokenVerifier())
)


async def _refuse(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            "trailers": False,
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def mcp_endpoint(scope: Any, receive: Any, send: Any) -> None:
    headers = dict(scope.get("headers") or [])
    host = headers.get(b"host", b"").decode("latin-1")
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        await _refuse(send, 400, "Invalid Host header.")
        return
    await _authenticated(scope, receive, send)
