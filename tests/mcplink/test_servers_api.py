"""The MCP servers API: add (with discovery), read, change, remove, refresh; who may do
what; bad input; secrets that never come back."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mcplink.models import McpServer
from tests.mcplink.conftest import ECHO_TOOLS
from tests.support.factories import api_client_for, make_user

pytestmark = pytest.mark.django_db

SECRET = "Bearer s3cret-token-0123456789"


def test_an_admin_adds_a_server_and_its_tools_are_discovered(admin_client: Any, mcp_url: str) -> None:
    response = admin_client.post("/api/mcp-servers/", {"name": "tests", "url": mcp_url}, format="json")

    assert response.status_code == 201
    data = response.json()["data"]
    assert data["status"] == "ok" and data["error"] == "" and data["skipped"] == []
    assert [t["name"] for t in data["tools"]] == [f"mcp.tests.{name}" for name in ECHO_TOOLS]
    echo = next(t for t in data["tools"] if t["mcp_name"] == "echo")
    assert echo["description"] == "Echo the text back."
    assert echo["parameters"]["properties"]["text"]["type"] == "string" and echo["parameters"]["required"] == ["text"]
    server = data["server"]
    assert {k: server[k] for k in ("name", "transport", "url", "enabled", "required_level", "required_level_name", "is_shared")} == {
        "name": "tests",
        "transport": "http",
        "url": mcp_url,
        "enabled": True,
        "required_level": 3,
        "required_level_name": "EXECUTE",
        "is_shared": False,
    }
    assert server["tool_count"] == len(ECHO_TOOLS) and server["tools_refreshed_at"] is not None


def test_headers_reach_the_server_and_never_come_back(
    admin_client: Any, add_server: Callable[..., dict[str, Any]], mcp_url: str, mcp_http_server: Any
) -> None:
    created = add_server(admin_client, name="tests", url=mcp_url, headers={"Authorization": SECRET, "X-Team": "blue"})
    server_id = created["server"]["id"]

    responses = [
        json.dumps(created),
        admin_client.get("/api/mcp-servers/").content.decode(),
        admin_client.get(f"/api/mcp-servers/{server_id}").content.decode(),
        admin_client.post(f"/api/mcp-servers/{server_id}/refresh").content.decode(),
        admin_client.put(f"/api/mcp-servers/{server_id}", {"enabled": True}, format="json").content.decode(),
        admin_client.get("/api/tools/").content.decode(),
    ]

    assert created["server"]["header_names"] == ["Authorization", "X-Team"]
    assert all("s3cret" not in text for text in responses)
    assert {h.get("authorization") for h in mcp_http_server.seen_headers} == {SECRET}
    stored = McpServer.objects.get(pk=server_id)
    assert "s3cret" not in stored.headers_encrypted and stored.headers == {"Authorization": SECRET, "X-Team": "blue"}


@pytest.mark.django_db(transaction=True)
def test_a_tool_result_that_repeats_a_header_secret_has_it_blanked(
    admin_client: Any, add_server: Callable[..., dict[str, Any]], mcp_url: str
) -> None:
    add_server(admin_client, name="tests", url=mcp_url, headers={"Authorization": SECRET})

    response = admin_client.post("/api/tools/mcp.tests.echo/execute", {"text": f"the header was {SECRET}"}, format="json")

    assert response.json()["data"]["result"] == "echo: the header was ***"


def test_omitted_headers_are_kept_and_an_empty_object_clears_them(
    admin_client: Any, add_server: Callable[..., dict[str, Any]], mcp_url: str
) -> None:
    server_id = add_server(admin_client, name="tests", url=mcp_url, headers={"Authorization": SECRET})["server"]["id"]

    kept = admin_client.put(f"/api/mcp-servers/{server_id}", {"timeout_seconds": 5}, format="json").json()["data"]["server"]
    cleared = admin_client.put(f"/api/mcp-servers/{server_id}", {"headers": {}}, format="json").json()["data"]["server"]

    assert kept["header_names"] == ["Authorization"] and kept["timeout_seconds"] == 5
    assert cleared["header_names"] == []
    assert McpServer.objects.get(pk=server_id).headers_encrypted == ""


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Bad Name", "url": "http://127.0.0.1:9/mcp"}, "name"),
        ({"name": "x" * 33, "url": "http://127.0.0.1:9/mcp"}, "name"),
        ({"name": 7, "url": "http://127.0.0.1:9/mcp"}, "name"),
        ({"url": "http://127.0.0.1:9/mcp"}, "name"),
        ({"name": "a", "transport": "ftp", "url": "http://127.0.0.1:9/mcp"}, "transport"),
        ({"name": "a"}, "url"),
        ({"name": "a", "url": "ftp://example.com/mcp"}, "url"),
        ({"name": "a", "url": "http://user:pw@example.com/mcp"}, "url"),
        ({"name": "a", "url": 5}, "url"),
        ({"name": "a", "url": "http://127.0.0.1:99999/mcp"}, "url"),
        ({"name": "a", "url": "http://127.0.0.1:9/mcp", "headers": ["Authorization"]}, "headers"),
        ({"name": "a", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": 5}}, "headers"),
        ({"name": "a", "url": "http://127.0.0.1:9/mcp", "headers": {"Bad Header": "x"}}, "headers"),
        ({"name": "a", "url": "http://127.0.0.1:9/mcp", "headers": {"X-A": "one\r\ntwo"}}, "headers"),
        ({"name": "a", "url": "http://127.0.0.1:9/mcp", "headers": {"Host": "evil.example"}}, "headers"),
        ({"name": "a", "url": "http://127.0.0.1:9/mcp", "timeout_seconds": 0}, "timeout_seconds"),
        ({"name": "a", "url": "http://127.0.0.1:9/mcp", "timeout_seconds": "5"}, "timeout_seconds"),
        ({"name": "a", "url": "http://127.0.0.1:9/mcp", "required_level": 7}, "required_level"),
        ({"name": "a", "url": "http://127.0.0.1:9/mcp", "enabled": "yes"}, "enabled"),
        ({"name": "a", "transport": "stdio"}, "command"),
        ({"name": "a", "transport": "stdio", "command": "x", "args": "--flag"}, "args"),
        ({"name": "a", "transport": "stdio", "command": "x", "env": {"1BAD": "v"}}, "env"),
        ({"name": "a", "transport": "stdio", "command": "x", "network": "on"}, "network"),
    ],
)
def test_bad_input_answers_400_naming_the_field(admin_client: Any, body: dict[str, Any], field: str) -> None:
    response = admin_client.post("/api/mcp-servers/", body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert McpServer.objects.count() == 0


def test_a_body_that_is_not_an_object_answers_400(admin_client: Any) -> None:
    response = admin_client.post("/api/mcp-servers/", ["tests"], format="json")

    assert response.status_code == 400 and "non_field_errors" in response.json()["errors"]


def test_bad_input_on_change_answers_400_naming_the_field(
    admin_client: Any, add_server: Callable[..., dict[str, Any]], mcp_url: str
) -> None:
    server_id = add_server(admin_client, name="tests", url=mcp_url)["server"]["id"]

    response = admin_client.put(f"/api/mcp-servers/{server_id}", {"url": "gopher://example.com"}, format="json")

    assert response.status_code == 400 and "url" in response.json()["errors"]
    assert McpServer.objects.get(pk=server_id).url == mcp_url


def test_a_second_server_with_the_same_name_answers_400(admin_client: Any, add_server: Callable[..., dict[str, Any]], mcp_url: str) -> None:
    add_server(admin_client, name="tests", url=mcp_url)

    response = admin_client.post("/api/mcp-servers/", {"name": "tests", "url": mcp_url}, format="json")

    assert response.status_code == 400 and "name" in response.json()["errors"]


def test_another_users_server_is_404_and_not_listed(
    client: Any, settings: Any, add_server: Callable[..., dict[str, Any]], mcp_url: str
) -> None:
    settings.LUXX_MCP_PRIVATE_URLS = "all"
    other = api_client_for(make_user(level=3))
    server_id = add_server(other, name="theirs", url=mcp_url)["server"]["id"]

    answers = [
        client.get(f"/api/mcp-servers/{server_id}").status_code,
        client.put(f"/api/mcp-servers/{server_id}", {"enabled": False}, format="json").status_code,
        client.post(f"/api/mcp-servers/{server_id}/refresh").status_code,
        client.delete(f"/api/mcp-servers/{server_id}").status_code,
    ]

    assert answers == [404, 404, 404, 404]
    assert client.get("/api/mcp-servers/").json()["data"] == {"servers": [], "total": 0}
    assert McpServer.objects.get(pk=server_id).enabled is True


@pytest.mark.parametrize(
    "extra",
    [{"transport": "stdio", "command": "/usr/bin/python3"}, {"shared": True}, {"required_level": 1}, {"network": True}],
)
def test_admin_only_settings_answer_403_for_a_user(client: Any, settings: Any, extra: dict[str, Any]) -> None:
    settings.LUXX_MCP_PRIVATE_URLS = "all"

    response = client.post("/api/mcp-servers/", {"name": "mine", "url": "http://127.0.0.1:9/mcp", **extra}, format="json")

    assert response.status_code == 403
    assert McpServer.objects.count() == 0


def test_a_user_may_not_aim_a_server_at_a_private_address(client: Any) -> None:
    response = client.post("/api/mcp-servers/", {"name": "mine", "url": "http://127.0.0.1:9/mcp"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"]["url"] == ["Only administrators may add an MCP server on a loopback or private address."]


def test_private_addresses_can_be_closed_to_admins_too(admin_client: Any, settings: Any) -> None:
    settings.LUXX_MCP_PRIVATE_URLS = "none"

    response = admin_client.post("/api/mcp-servers/", {"name": "tests", "url": "http://10.0.0.5/mcp"}, format="json")

    assert response.status_code == 400 and "disabled on this server" in response.json()["errors"]["url"][0]


def test_a_user_sees_a_shared_server_but_cannot_change_it(client: Any, shared_server: dict[str, Any]) -> None:
    server_id = shared_server["id"]

    listed = client.get("/api/mcp-servers/").json()["data"]
    answers = [
        client.put(f"/api/mcp-servers/{server_id}", {"enabled": False}, format="json").status_code,
        client.post(f"/api/mcp-servers/{server_id}/refresh").status_code,
        client.delete(f"/api/mcp-servers/{server_id}").status_code,
    ]

    assert [s["name"] for s in listed["servers"]] == ["tests"] and listed["servers"][0]["is_shared"] is True
    assert answers == [403, 403, 403]
    assert McpServer.objects.filter(pk=server_id, enabled=True).exists()


def test_deleting_a_server_removes_its_tools(admin_client: Any, add_server: Callable[..., dict[str, Any]], mcp_url: str) -> None:
    server_id = add_server(admin_client, name="tests", url=mcp_url)["server"]["id"]

    response = admin_client.delete(f"/api/mcp-servers/{server_id}")

    assert response.status_code == 200
    assert not McpServer.objects.filter(pk=server_id).exists()
    assert [t["name"] for t in admin_client.get("/api/tools/?category=mcp").json()["data"]["tools"]] == []


def test_a_server_that_does_not_answer_is_kept_as_down_with_the_reason(admin_client: Any, closed_port_url: str) -> None:
    response = admin_client.post("/api/mcp-servers/", {"name": "gone", "url": closed_port_url}, format="json")

    data = response.json()["data"]
    assert response.status_code == 201
    assert data["status"] == "down" and data["tools"] == []
    assert data["error"].startswith("The MCP server gone could not be reached:")
    assert data["server"]["last_error"] == data["error"]


def test_refresh_reads_the_tools_again_and_keeps_them_when_the_server_is_down(
    admin_client: Any, add_server: Callable[..., dict[str, Any]], mcp_url: str, closed_port_url: str
) -> None:
    server_id = add_server(admin_client, name="tests", url=mcp_url)["server"]["id"]
    McpServer.objects.filter(pk=server_id).update(tools=[])

    refreshed = admin_client.post(f"/api/mcp-servers/{server_id}/refresh").json()
    McpServer.objects.filter(pk=server_id).update(url=closed_port_url)
    failed = admin_client.post(f"/api/mcp-servers/{server_id}/refresh").json()

    assert refreshed["message"] == f"Found {len(ECHO_TOOLS)} tools"
    assert len(refreshed["data"]["tools"]) == len(ECHO_TOOLS)
    assert failed["data"]["status"] == "down" and failed["message"].startswith("The MCP server tests could not be reached")
    assert len(failed["data"]["tools"]) == len(ECHO_TOOLS)


def test_a_server_that_accepts_but_never_answers_is_given_up_on_within_its_time_limit(admin_client: Any) -> None:
    import socket
    import time

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the kernel; nothing ever reads or answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/mcp"
        started = time.monotonic()

        response = admin_client.post("/api/mcp-servers/", {"name": "silent", "url": url, "timeout_seconds": 2}, format="json")

    data = response.json()["data"]
    assert response.status_code == 201
    assert (data["status"], data["error"]) == ("down", "The MCP server silent did not answer within 2 seconds.")
    assert time.monotonic() - started < 10
