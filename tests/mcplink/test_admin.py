"""MCP servers in Django admin: added with write-only headers (its tools discovered on
save), never shown the secret again, refreshed with the list action; tokens listed
without their digest."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from mcplink.models import McpServer, McpToken
from mcplink.services import token_create
from tests.mcplink.conftest import ECHO_TOOLS
from tests.support.factories import DEFAULT_PASSWORD, make_admin

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "Bearer admin-s3cret-0123456789"


@pytest.fixture
def browser() -> Client:
    make_admin(username="root")
    client = Client()
    assert client.login(username="root", password=DEFAULT_PASSWORD)
    return client


def form(**fields: Any) -> dict[str, Any]:
    base = {"name": "tests", "transport": "http", "url": "", "command": "", "args": "[]", "enabled": "on"}
    return {**base, "required_level": "3", "timeout_seconds": "5", "headers_json": "", "env_json": "", **fields}


def test_an_admin_adds_a_shared_server_whose_tools_are_discovered_and_headers_never_shown(
    browser: Client, mcp_url: str, mcp_http_server: Any
) -> None:
    added = browser.post("/admin/mcplink/mcpserver/add/", form(url=mcp_url, headers_json=f'{{"Authorization": "{SECRET}"}}'), follow=True)

    server = McpServer.objects.get(name="tests")
    change = browser.get(f"/admin/mcplink/mcpserver/{server.pk}/change/")
    listing = browser.get("/admin/mcplink/mcpserver/")
    assert added.status_code == 200
    assert f"Tests: {len(ECHO_TOOLS)} tools found.".encode() in added.content
    assert (server.user_id, server.status, [t["name"] for t in server.tools]) == (None, "ok", ECHO_TOOLS)
    assert server.headers == {"Authorization": SECRET}
    assert {h.get("authorization") for h in mcp_http_server.seen_headers} == {SECRET}
    assert change.status_code == 200 and b"echo, fail, sleep" in change.content
    assert all(b"admin-s3cret" not in page.content for page in (added, change, listing))


def test_the_admin_form_refuses_bad_headers_and_a_stdio_server_without_a_command(browser: Client) -> None:
    bad_headers = browser.post("/admin/mcplink/mcpserver/add/", form(url="https://mcp.example.com/mcp", headers_json='{"Host": "x"}'))
    no_command = browser.post("/admin/mcplink/mcpserver/add/", form(name="local", transport="stdio"))
    bad_name = browser.post("/admin/mcplink/mcpserver/add/", form(name="Bad Name", url="https://mcp.example.com/mcp"))

    assert b"The header Host is set by Luxx itself." in bad_headers.content
    assert b"A stdio MCP server needs the command that starts it." in no_command.content
    assert b"Use 1-32 lower-case letters, digits, - and _." in bad_name.content
    assert not McpServer.objects.exists()


def test_the_refresh_action_discovers_the_tools_again(browser: Client, mcp_url: str, closed_port_url: str) -> None:
    up = McpServer.objects.create(name="tests", url=mcp_url)
    down = McpServer.objects.create(name="gone", url=closed_port_url)

    response = browser.post("/admin/mcplink/mcpserver/", {"action": "refresh_tools", "_selected_action": [up.pk, down.pk]}, follow=True)

    up.refresh_from_db()
    down.refresh_from_db()
    assert response.status_code == 200
    assert f"Tests: {len(ECHO_TOOLS)} tools found.".encode() in response.content
    assert b"Gone: The MCP server gone could not be reached" in response.content
    assert (up.status, len(up.tools)) == ("ok", len(ECHO_TOOLS))
    assert (down.status, down.tools) == ("down", [])


def test_tokens_are_listed_without_their_secret_and_cannot_be_made_in_admin(browser: Client) -> None:
    issued = token_create(user=make_admin(), name="Claude Desktop")

    listing = browser.get("/admin/mcplink/mcptoken/")
    add = browser.get("/admin/mcplink/mcptoken/add/")

    assert listing.status_code == 200 and b"Claude Desktop" in listing.content
    assert issued.secret.encode() not in listing.content and McpToken.objects.get().digest.encode() not in listing.content
    assert add.status_code == 403
