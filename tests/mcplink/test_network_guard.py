"""The network guard at every request an MCP client makes, not only when a server is
saved: a name that resolves elsewhere later, a redirect, an intranet address the
administrator allowed, and a response too large to hold."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mcplink.models import McpServer
from tests.mcplink.conftest import ECHO_TOOLS
from tests.support.mcp_http import McpHttpServer
from tests.toolbox.conftest import Listener
from toolbox import netguard

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, list[str]]]:
    """Host names resolve from tables, never from DNS: ``saved`` when a server is saved
    (a synchronous lookup), ``used`` when the client connects."""
    tables: dict[str, dict[str, list[str]]] = {"saved": {}, "used": {}}

    def lookup(table: str, host: str) -> list[str]:
        if host not in tables[table]:
            raise netguard.ResolutionError(f"Could not resolve {host}.")
        return tables[table][host]

    async def resolve(host: str, port: int) -> list[str]:
        return lookup("used", host)

    monkeypatch.setattr(netguard, "resolve_host", resolve)
    monkeypatch.setattr(netguard, "resolve_host_sync", lambda host, port: lookup("saved", host))
    return tables


@pytest.fixture
def redirector(listener: Listener) -> Iterator[McpHttpServer]:
    """An HTTP server that answers every request with a redirect to the listener."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        location = f"http://127.0.0.1:{listener.port}/mcp".encode()
        await send({"type": "http.response.start", "status": 307, "headers": [(b"location", location), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    server = McpHttpServer(app).start()
    yield server
    server.stop()


def test_a_name_that_resolves_to_loopback_when_used_is_refused_without_connecting(
    client: Any, names: dict[str, dict[str, list[str]]], listener: Listener
) -> None:
    names["saved"]["mcp.example"] = ["93.184.216.34"]
    names["used"]["mcp.example"] = ["127.0.0.1"]

    response = client.post("/api/mcp-servers/", {"name": "rebound", "url": f"http://mcp.example:{listener.port}/mcp"}, format="json")

    data = response.json()["data"]
    assert response.status_code == 201 and data["status"] == "down" and data["tools"] == []
    assert data["error"] == (
        "The MCP server rebound could not be reached: Refused: mcp.example resolves to 127.0.0.1, which is not a public internet address."
    )
    assert listener.connections == 0


def test_a_call_to_a_server_whose_name_now_resolves_to_loopback_fails_without_connecting(
    client: Any, user: Any, names: dict[str, dict[str, list[str]]], listener: Listener
) -> None:
    names["used"]["mcp.example"] = ["127.0.0.1"]
    McpServer.objects.create(
        user=user, name="rebound", url=f"http://mcp.example:{listener.port}/mcp", status="ok", tools=[{"name": "echo", "input_schema": {}}]
    )

    response = client.post("/api/tools/mcp.rebound.echo/execute", {}, format="json")

    body = response.json()["data"]
    assert response.status_code == 200 and body["success"] is False
    assert body["result"]["error"].startswith("The MCP server rebound could not be reached: Refused: mcp.example resolves to 127.0.0.1")
    assert listener.connections == 0


def test_a_redirect_is_not_followed(
    admin_client: Any, add_server: Callable[..., dict[str, Any]], redirector: McpHttpServer, listener: Listener
) -> None:
    data = add_server(admin_client, name="moved", url=redirector.url)

    assert data["status"] == "down" and data["tools"] == []
    assert data["error"] == (
        f"The MCP server moved could not start a session: Redirect to http://127.0.0.1:{listener.port}/mcp not followed; "
        "use that URL as the endpoint if it is the intended server."
    )
    assert len(redirector.seen_headers) >= 1 and listener.connections == 0


def test_a_user_may_add_a_server_on_an_intranet_address_the_administrator_allowed(
    client: Any, settings: Any, add_server: Callable[..., dict[str, Any]], mcp_http_server: McpHttpServer
) -> None:
    settings.LUXX_FETCH_ALLOWED_ADDRESSES = [f"127.0.0.1:{mcp_http_server.port}"]

    allowed = add_server(client, name="intranet", url=mcp_http_server.url)
    other_port = client.post(
        "/api/mcp-servers/", {"name": "other", "url": f"http://127.0.0.1:{mcp_http_server.port + 1}/mcp"}, format="json"
    )
    echoed = client.post("/api/tools/mcp.intranet.echo/execute", {"text": "hi"}, format="json").json()["data"]

    assert allowed["status"] == "ok" and [t["mcp_name"] for t in allowed["tools"]] == ECHO_TOOLS
    assert echoed["result"] == "echo: hi"
    assert other_port.status_code == 400
    assert other_port.json()["errors"]["url"] == ["Only administrators may add an MCP server on a loopback or private address."]


def test_a_response_over_8_mb_is_a_failed_result_and_the_server_stays_up(client: Any, shared_server: dict[str, Any]) -> None:
    response = client.post("/api/tools/mcp.tests.big/execute", {"size": 9 * 1024 * 1024}, format="json")

    body = response.json()["data"]
    assert response.status_code == 200 and body["success"] is False
    assert body["result"] == {"error": "The MCP server tests sent more than 8 MB in one response; ask it for less."}
    assert McpServer.objects.get(pk=shared_server["id"]).status == "ok"


def test_an_administrator_demoted_since_loses_their_servers_private_address(
    admin: Any, admin_client: Any, add_server: Callable[..., dict[str, Any]], mcp_url: str, mcp_http_server: McpHttpServer
) -> None:
    add_server(admin_client, name="mine", url=mcp_url)
    admin.permission_level = 3
    admin.save()
    before = len(mcp_http_server.seen_headers)

    response = admin_client.post("/api/tools/mcp.mine.echo/execute", {"text": "hi"}, format="json")

    body = response.json()["data"]
    assert response.status_code == 200 and body["success"] is False
    assert body["result"]["error"] == (
        f"The MCP server mine could not be reached: Refused: {mcp_url} resolves to 127.0.0.1, which is not a public internet address."
    )
    assert len(mcp_http_server.seen_headers) == before
