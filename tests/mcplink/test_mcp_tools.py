"""An MCP server's tools in the tool registry: listed, executed, refused, timed out, down,
too large, audited, and kept to the users who may see them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import PermissionLevel
from mcplink.models import McpServer
from tests.mcplink.conftest import ECHO_TOOLS
from tests.support.factories import api_client_for, make_user
from toolbox.models import ToolExecution
from toolbox.registry import MAX_RESULT_CHARS

pytestmark = pytest.mark.django_db(transaction=True)


def execute(client: Any, name: str, arguments: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = client.post(f"/api/tools/{name}/execute", arguments, format="json")
    return response.status_code, response.json()


def test_the_tools_list_shows_a_servers_tools_in_the_mcp_category(client: Any, shared_server: dict[str, Any]) -> None:
    data = client.get("/api/tools/").json()["data"]

    mcp = data["categorized"]["mcp"]
    assert [t["name"] for t in mcp] == sorted(f"mcp.tests.{name}" for name in ECHO_TOOLS)
    echo = next(t for t in mcp if t["name"] == "mcp.tests.echo")
    assert {k: echo[k] for k in ("category", "required_level", "allowed", "available", "unavailable_reason", "description")} == {
        "category": "mcp",
        "required_level": 3,
        "allowed": True,
        "available": True,
        "unavailable_reason": "",
        "description": "Echo the text back.",
    }
    assert client.get("/api/tools/mcp.tests.echo").json()["data"]["name"] == "mcp.tests.echo"
    assert [t["name"] for t in client.get("/api/tools/?category=mcp").json()["data"]["tools"]] == [t["name"] for t in mcp]


def test_a_tool_runs_on_the_server_and_the_call_is_audited(client: Any, user: Any, shared_server: dict[str, Any]) -> None:
    status, body = execute(client, "mcp.tests.echo", {"text": "hello"})

    assert status == 200
    assert body["data"]["result"] == "echo: hello" and body["data"]["success"] is True
    record = ToolExecution.objects.get(tool_name="mcp.tests.echo")
    assert (record.user_id, record.success, record.arguments, record.result_preview) == (user.pk, True, {"text": "hello"}, "echo: hello")


def test_a_tool_that_reports_an_error_is_a_failed_result(client: Any, shared_server: dict[str, Any]) -> None:
    status, body = execute(client, "mcp.tests.fail", {"reason": "no luck"})

    assert status == 200 and body["data"]["success"] is False
    assert body["data"]["result"] == {
        "error": "The tool fail of the MCP server tests reported an error: Error executing tool fail: failed on purpose: no luck"
    }
    assert ToolExecution.objects.get(tool_name="mcp.tests.fail").success is False


def test_a_tool_that_takes_longer_than_the_servers_limit_fails_in_plain_words(client: Any, shared_server: dict[str, Any]) -> None:
    started = time.monotonic()

    status, body = execute(client, "mcp.tests.sleep", {"seconds": 30})

    assert status == 200 and body["data"]["success"] is False
    assert body["data"]["result"] == {"error": "The MCP server tests did not answer within 2 seconds."}
    assert time.monotonic() - started < 10
    assert McpServer.objects.get(pk=shared_server["id"]).status == "ok"


def test_a_result_over_the_size_limit_is_a_failed_result(client: Any, shared_server: dict[str, Any]) -> None:
    status, body = execute(client, "mcp.tests.big", {"size": MAX_RESULT_CHARS + 1})

    assert status == 200 and body["data"]["success"] is False
    assert body["data"]["result"] == {
        "error": "The tool big of the MCP server tests returned 64,001 characters, "
        "more than the 64,000 a tool result may have; ask it for less."
    }


def test_arguments_the_tools_schema_refuses_answer_400_naming_the_argument(client: Any, shared_server: dict[str, Any]) -> None:
    status, body = execute(client, "mcp.tests.echo", {"text": 5})

    assert status == 400 and body["message"] == "text: 5 is not of type 'string'"


def test_a_user_below_the_servers_level_is_refused(shared_server: dict[str, Any]) -> None:
    reader = api_client_for(make_user(level=PermissionLevel.READ_ONLY))

    status, body = execute(reader, "mcp.tests.echo", {"text": "hi"})
    listed = next(t for t in reader.get("/api/tools/").json()["data"]["tools"] if t["name"] == "mcp.tests.echo")

    assert status == 403
    assert body["message"] == "The tool mcp.tests.echo needs permission level 3 (EXECUTE); you have 1 (READ_ONLY)."
    assert listed["allowed"] is False
    assert ToolExecution.objects.get(tool_name="mcp.tests.echo").rejected_status == 403


def test_an_admin_can_open_a_servers_tools_to_every_level(admin_client: Any, shared_server: dict[str, Any]) -> None:
    reader = api_client_for(make_user(level=PermissionLevel.READ_ONLY))
    admin_client.put(f"/api/mcp-servers/{shared_server['id']}", {"required_level": 1}, format="json")

    status, body = execute(reader, "mcp.tests.echo", {"text": "hi"})

    assert status == 200 and body["data"]["result"] == "echo: hi"


def test_a_server_that_went_down_gives_a_failed_result_then_is_unavailable(
    client: Any, shared_server: dict[str, Any], closed_port_url: str
) -> None:
    McpServer.objects.filter(pk=shared_server["id"]).update(url=closed_port_url)

    status, body = execute(client, "mcp.tests.echo", {"text": "hi"})
    listed = next(t for t in client.get("/api/tools/").json()["data"]["tools"] if t["name"] == "mcp.tests.echo")
    again, refused = execute(client, "mcp.tests.echo", {"text": "hi"})

    assert status == 200 and body["data"]["success"] is False
    assert body["data"]["result"]["error"].startswith("The MCP server tests could not be reached:")
    server = McpServer.objects.get(pk=shared_server["id"])
    assert server.status == "down" and server.last_error == body["data"]["result"]["error"]
    assert listed["available"] is False and listed["unavailable_reason"].startswith("The MCP server tests could not be reached at ")
    assert again == 503 and refused["message"].startswith("The tool mcp.tests.echo is unavailable on this server")


def test_a_down_server_is_tried_again_after_the_retry_delay_and_recovers(
    client: Any, settings: Any, shared_server: dict[str, Any], closed_port_url: str, mcp_url: str
) -> None:
    McpServer.objects.filter(pk=shared_server["id"]).update(url=closed_port_url)
    execute(client, "mcp.tests.echo", {"text": "hi"})
    McpServer.objects.filter(pk=shared_server["id"]).update(url=mcp_url)
    settings.LUXX_MCP_RETRY_SECONDS = 0

    status, body = execute(client, "mcp.tests.echo", {"text": "back"})

    assert status == 200 and body["data"]["result"] == "echo: back"
    server = McpServer.objects.get(pk=shared_server["id"])
    assert (server.status, server.last_error) == ("ok", "")


def test_a_disabled_servers_tools_are_unavailable(admin_client: Any, client: Any, shared_server: dict[str, Any]) -> None:
    admin_client.put(f"/api/mcp-servers/{shared_server['id']}", {"enabled": False}, format="json")

    status, body = execute(client, "mcp.tests.echo", {"text": "hi"})

    assert status == 503 and body["message"] == "The tool mcp.tests.echo is unavailable on this server: The MCP server tests is disabled."


def test_another_users_server_tools_are_neither_listed_nor_run(
    client: Any, settings: Any, add_server: Callable[..., dict[str, Any]], mcp_url: str
) -> None:
    settings.LUXX_MCP_PRIVATE_URLS = "all"
    add_server(api_client_for(make_user(level=3)), name="theirs", url=mcp_url)

    listed = client.get("/api/tools/?category=mcp").json()["data"]
    status, body = execute(client, "mcp.theirs.echo", {"text": "hi"})
    agent = client.post("/api/agents/", {"name": "a", "enabled_tools": ["mcp.theirs.echo"]}, format="json")

    assert listed["tools"] == [] and listed["total"] == 0
    assert status == 404 and body["message"] == "Unknown tool: mcp.theirs.echo."
    assert agent.status_code == 400 and agent.json()["errors"]["enabled_tools"] == ["Unknown tools: mcp.theirs.echo."]


def test_a_users_own_server_takes_a_name_before_a_shared_one(
    client: Any, settings: Any, add_server: Callable[..., dict[str, Any]], shared_server: dict[str, Any], mcp_url: str
) -> None:
    settings.LUXX_MCP_PRIVATE_URLS = "all"
    own = add_server(client, name="tests", url=mcp_url)["server"]
    McpServer.objects.filter(pk=own["id"]).update(tools=[t for t in McpServer.objects.get(pk=own["id"]).tools if t["name"] == "echo"])

    names = [t["name"] for t in client.get("/api/tools/?category=mcp").json()["data"]["tools"]]
    status, _ = execute(client, "mcp.tests.fail", {})

    assert names == ["mcp.tests.echo"]
    assert status == 404


def test_an_agent_can_enable_a_servers_tools(client: Any, shared_server: dict[str, Any]) -> None:
    response = client.post("/api/agents/", {"name": "helper", "enabled_tools": ["mcp.tests.echo", "process_data"]}, format="json")

    assert response.status_code == 201 and response.json()["data"]["enabled_tools"] == ["mcp.tests.echo", "process_data"]


def test_listing_tools_never_contacts_a_server(client: Any, shared_server: dict[str, Any], mcp_http_server: Any) -> None:
    before = len(mcp_http_server.seen_headers)

    listed = client.get("/api/tools/?category=mcp").json()["data"]["total"]
    client.get("/api/mcp-servers/")
    client.get(f"/api/mcp-servers/{shared_server['id']}")
    client.post("/api/agents/", {"name": "a", "enabled_tools": ["mcp.tests.echo"]}, format="json")

    assert listed == len(ECHO_TOOLS)
    assert len(mcp_http_server.seen_headers) == before
