"""The Settings page's MCP servers: add one (its tools discovered), see its headers'
names but never their values, refresh it, find its tools in the chat's tool panel, and
delete it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import api, register, unique
from tests.support.mcp_http import McpHttpServer
from tests.support.mcp_test_server import build_server

pytestmark = pytest.mark.e2e

SECRET = "Bearer e2e-secret-0123456789"


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[McpHttpServer]:
    server = McpHttpServer(build_server().streamable_http_app()).start()
    yield server
    server.stop()


def test_an_mcp_server_is_added_refreshed_used_and_deleted_from_settings(page: Any, mcp_server: McpHttpServer) -> None:
    # Given a signed-in user on the Settings page
    register(page)
    name = unique("srv")
    page.goto("/settings/")
    expect(page.locator("#mcp-section[data-ready='true']")).to_have_count(1)
    expect(page.locator("#mcp-endpoint")).to_have_text(page.evaluate("location.origin") + "/mcp")

    # When they add a server with a header
    page.get_by_label("Name", exact=True).last.fill(name)
    page.get_by_label("URL", exact=True).fill(mcp_server.url)
    page.get_by_label("Headers", exact=True).fill(f"Authorization: {SECRET}")
    page.get_by_role("button", name="Add server").click()

    # Then its card shows it reachable with its tools, and the header's name only
    card = page.locator(".mcp-card", has_text=name)
    expect(card).to_contain_text("Reachable")
    expect(card).to_contain_text("8 tools")
    expect(card).to_contain_text("Headers: Authorization")
    card.locator("summary").click()
    expect(card.get_by_text(f"mcp.{name}.echo", exact=True)).to_be_visible()
    assert "e2e-secret" not in page.content()
    assert {h.get("authorization") for h in mcp_server.seen_headers if "authorization" in h} == {SECRET}

    # And a refresh finds the tools again
    card.get_by_role("button", name=f"Refresh tools: {name}").click()
    expect(page.locator(".toast").last).to_contain_text(f"{name}: 8 tools found.")

    # And the chat's tool panel lists them under MCP servers
    tools = api(page, "GET", "/api/tools/?category=mcp")["tools"]
    assert sorted(t["name"] for t in tools)[:2] == [f"mcp.{name}.big", f"mcp.{name}.connect"]

    # When the server is deleted, its card goes
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name=f"Delete: {name}").click()
    expect(page.locator(".mcp-card", has_text=name)).to_have_count(0)
    assert api(page, "GET", "/api/mcp-servers/")["total"] == 0
    assert page.errors == []


def test_a_server_that_does_not_answer_is_shown_unreachable_with_the_reason(page: Any) -> None:
    register(page)
    name = unique("down")
    page.goto("/settings/")
    expect(page.locator("#mcp-section[data-ready='true']")).to_have_count(1)

    page.get_by_label("Name", exact=True).last.fill(name)
    page.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/mcp")
    page.get_by_role("button", name="Add server").click()

    card = page.locator(".mcp-card", has_text=name)
    expect(card).to_contain_text("Unreachable")
    expect(card.locator(".test-fail")).to_contain_text(f"The MCP server {name} could not be reached")
    assert page.errors == []


def test_a_token_made_in_settings_lets_an_mcp_client_in_until_it_is_revoked(page: Any, server_url: str) -> None:
    # Given a user with an agent, on the Settings page
    register(page)
    api(page, "POST", "/api/agents/", {"name": "Helper"})
    page.goto("/settings/")
    expect(page.locator("#mcp-section[data-ready='true']")).to_have_count(1)

    # When they make a token
    page.get_by_label("Token name").fill("Claude Desktop")
    page.get_by_role("button", name="Make a token").click()
    expect(page.locator("#mcp-token-new")).to_be_visible()
    token = page.locator("#mcp-token-value").input_value()

    # Then an MCP client gets in with it, and the page never shows it again
    assert token.startswith("luxx_mcp_")
    assert mcp_list_agents(server_url, token) == ["Helper"]
    page.reload()
    expect(page.locator(".mcp-token", has_text="Claude Desktop")).to_contain_text(token[:15])
    assert token not in page.content()

    # When it is revoked, the client is refused
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke: Claude Desktop").click()
    expect(page.locator(".mcp-token")).to_have_count(0)
    response = httpx.post(
        f"{server_url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 401
    assert page.errors == []


def mcp_list_agents(server_url: str, token: str) -> list[str]:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> list[str]:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
            Client(streamable_http_client(f"{server_url}/mcp", http_client=http), cache=None) as client,
        ):
            result = await client.call_tool("list_agents", {})
            return [agent["name"] for agent in result.structured_content["agents"]]

    # Playwright's sync API keeps an event loop running in this thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()
