"""Luxx's MCP client talks to servers of either protocol era: one that answers the
stateless ``server/discover`` probe (2026-07-28), and one that knows only the
``initialize`` handshake (2025-11-25 and older), which it falls back to."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.mcplink.conftest import ECHO_TOOLS
from tests.support.mcp_http import McpHttpServer
from tests.support.mcp_test_server import build_server

pytestmark = pytest.mark.django_db(transaction=True)


class HandshakeOnly:
    """An ASGI wrapper that answers ``server/discover`` as a server of an older revision
    does (JSON-RPC -32601, method not found) and records the methods and protocol
    version headers of the requests it passes on."""

    def __init__(self, app: Any):
        self.app = app
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        request = json.loads(body or b"{}")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = request.get("method", "") if isinstance(request, dict) else ""
        self.seen.append((method, headers.get("mcp-protocol-version", "")))
        if method == "server/discover":
            answer = json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "error": {"code": -32601, "message": "Method not found"}})
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": answer.encode()})
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return dict(await receive())

        await self.app(scope, replay, send)


@pytest.fixture(scope="module")
def legacy_server() -> Iterator[tuple[McpHttpServer, HandshakeOnly]]:
    wrapper = HandshakeOnly(build_server().streamable_http_app())
    server = McpHttpServer(wrapper).start()
    yield server, wrapper
    server.stop()


def test_a_server_that_knows_only_the_handshake_is_discovered_and_called(
    admin_client: Any, add_server: Callable[..., dict[str, Any]], legacy_server: tuple[McpHttpServer, HandshakeOnly]
) -> None:
    server, wrapper = legacy_server
    wrapper.seen.clear()

    created = add_server(admin_client, name="legacy", url=server.url)
    echoed = admin_client.post("/api/tools/mcp.legacy.echo/execute", {"text": "old"}, format="json").json()["data"]

    assert created["status"] == "ok" and [t["mcp_name"] for t in created["tools"]] == ECHO_TOOLS
    assert echoed["result"] == "echo: old"
    methods = [method for method, _ in wrapper.seen]
    assert methods.count("server/discover") == 2 and methods.count("initialize") == 2
    assert {version for method, version in wrapper.seen if method in ("tools/list", "tools/call")} == {"2025-11-25"}


def test_a_current_server_is_reached_through_server_discover(
    admin_client: Any, add_server: Callable[..., dict[str, Any]], mcp_url: str, mcp_http_server: McpHttpServer
) -> None:
    add_server(admin_client, name="current", url=mcp_url)

    versions = {h.get("mcp-protocol-version") for h in mcp_http_server.seen_headers}

    assert "2026-07-28" in versions and "2025-11-25" not in versions
