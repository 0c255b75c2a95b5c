"""Personal MCP tokens: made (shown once), listed without the token, used by an MCP client
at /mcp and nowhere else, refused once revoked or expired."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from agents.models import Agent
from mcplink.models import McpToken
from tests.mcplink.test_luxx_mcp_server import INITIALIZE, MCP_HEADERS, call, data
from tests.support.factories import api_client_for, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def make_token(client: Any, **body: Any) -> dict[str, Any]:
    response = client.post("/api/mcp-tokens/", {"name": "Claude Desktop", **body}, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json()["data"])


def test_a_token_is_shown_once_and_listed_without_it() -> None:
    client = api_client_for(make_user())

    made = make_token(client, expires_in_days=30)
    listed = client.get("/api/mcp-tokens/")

    assert made["token"].startswith("luxx_mcp_") and len(made["token"]) > 40
    assert made["prefix"] == made["token"][:15]
    assert made["expires_at"] is not None and made["last_used_at"] is None
    assert listed.json()["data"]["total"] == 1
    assert listed.json()["data"]["tokens"][0] == {k: v for k, v in made.items() if k != "token"}
    assert made["token"] not in listed.content.decode()
    assert made["token"] not in McpToken.objects.get().digest


def test_an_mcp_client_uses_the_token_at_mcp(live_url: str) -> None:
    user = make_user()
    Agent.objects.create(user=user, name="Helper")
    token = make_token(api_client_for(user))["token"]

    result = data(call(live_url, token, "list_agents"))

    assert [agent["name"] for agent in result["agents"]] == ["Helper"]
    assert McpToken.objects.get().last_used_at is not None


def test_the_token_opens_nothing_but_mcp(live_url: str) -> None:
    token = make_token(api_client_for(make_user()))["token"]

    response = httpx.get(f"{live_url}/api/agents/", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401


@pytest.mark.parametrize("how", ["revoked", "expired", "inactive"])
def test_a_revoked_or_expired_token_or_an_inactive_owner_is_refused(live_url: str, how: str) -> None:
    user = make_user()
    client = api_client_for(user)
    made = make_token(client)
    if how == "revoked":
        assert client.delete(f"/api/mcp-tokens/{made['id']}").status_code == 200
    elif how == "expired":
        McpToken.objects.filter(pk=made["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    else:
        user.is_active = False
        user.save()

    response = httpx.post(f"{live_url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {made['token']}"})

    assert response.status_code == 401


def test_another_users_token_cannot_be_revoked_or_seen() -> None:
    mine = api_client_for(make_user())
    theirs = make_token(api_client_for(make_user()))

    response = mine.delete(f"/api/mcp-tokens/{theirs['id']}")

    assert response.status_code == 404
    assert mine.get("/api/mcp-tokens/").json()["data"] == {"tokens": [], "total": 0}
    assert McpToken.objects.filter(pk=theirs["id"]).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "a", "expires_in_days": "7"}, "expires_in_days"),
    ],
)
def test_bad_input_answers_400_naming_the_field(body: dict[str, Any], field: str) -> None:
    response = api_client_for(make_user()).post("/api/mcp-tokens/", body, format="json")

    assert response.status_code == 400 and field in response.json()["errors"]
    assert McpToken.objects.count() == 0
