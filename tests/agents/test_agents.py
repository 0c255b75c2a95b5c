"""/api/agents/ and /api/v1/agents: shapes, ownership, bad input, the v1 mapping."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from agents.models import Agent, Provider
from agents.prompts import render_system_prompt
from tests.support.factories import api_client_for, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def user() -> Any:
    return make_user()


@pytest.fixture
def provider(user: Any) -> Provider:
    return Provider.objects.create(
        user=user, name="p", provider_type="openai", base_url="https://api.openai.com/v1", default_model="gpt-4o", is_default=True
    )


SEED_AGENT = {
    "name": "代码助手",
    "role": "专注于 Python 和 JavaScript 开发",
    "model": "deepseek-chat",
    "system_prompt": "You are a helpful coding assistant.",
    "color": "#10b981",
}


def test_it_creates_lists_updates_and_deletes_an_agent(user: Any, provider: Provider) -> None:
    client = api_client_for(user)

    created = client.post("/api/agents/", {**SEED_AGENT, "provider_id": provider.pk}, format="json")
    agent_id = created.json()["data"]["id"]
    listed = client.get("/api/agents/").json()
    updated = client.put(f"/api/agents/{agent_id}", {"name": "新名称", "role": "新的角色描述", "color": "#ff6b6b"}, format="json").json()[
        "data"
    ]
    deleted = client.delete(f"/api/agents/{agent_id}")

    assert created.status_code == 201 and created.json()["message"] == "Agent created"
    data = created.json()["data"]
    assert {k: data[k] for k in ("user_id", "name", "role", "provider_id", "model", "system_prompt", "color")} == {
        "user_id": user.pk,
        "provider_id": provider.pk,
        **SEED_AGENT,
    }
    assert (data["temperature"], data["max_tokens"], data["enabled_tools"]) == (0.7, 2048, [])
    assert isinstance(listed["data"], list) and [a["id"] for a in listed["data"]] == [agent_id]
    assert (updated["name"], updated["role"], updated["color"], updated["model"]) == ("新名称", "新的角色描述", "#ff6b6b", "deepseek-chat")
    assert deleted.status_code == 200 and not Agent.objects.filter(pk=agent_id).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"color": "green"}, "color"),
        ({"color": "#12345"}, "color"),
        ({"temperature": 3}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"provider_id": 999999}, "provider_id"),
        ({"enabled_tools": ["no_such_tool"]}, "enabled_tools"),
        ({"enabled_tools": "file_read"}, "enabled_tools"),
        ({"name": ""}, "name"),
        ({"name": ["x"]}, "name"),
    ],
)
def test_it_rejects_bad_agent_input_naming_the_field(user: Any, body: dict, field: str) -> None:
    response = api_client_for(user).post("/api/agents/", {**SEED_AGENT, **body}, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Agent.objects.count() == 0


def test_known_tools_are_accepted(user: Any) -> None:
    response = api_client_for(user).post("/api/agents/", {**SEED_AGENT, "enabled_tools": ["file_read", "web_search"]}, format="json")

    assert response.status_code == 201
    assert response.json()["data"]["enabled_tools"] == ["file_read", "web_search"]


def test_another_users_agent_is_404_and_their_provider_is_refused(user: Any, provider: Provider) -> None:
    agent = Agent.objects.create(user=user, name="mine")
    stranger = api_client_for(make_user())

    statuses = [
        stranger.get(f"/api/agents/{agent.pk}").status_code,
        stranger.put(f"/api/agents/{agent.pk}", {"name": "x"}, format="json").status_code,
        stranger.delete(f"/api/agents/{agent.pk}").status_code,
        stranger.get(f"/api/v1/agents/{agent.pk}").status_code,
        stranger.put(f"/api/v1/agents/{agent.pk}", {"name": "x"}, format="json").status_code,
        stranger.delete(f"/api/v1/agents/{agent.pk}").status_code,
    ]
    foreign_provider = stranger.post("/api/agents/", {**SEED_AGENT, "provider_id": provider.pk}, format="json")

    assert statuses == [404] * 6
    assert stranger.get("/api/agents/").json()["data"] == []
    assert foreign_provider.status_code == 400 and "provider_id" in foreign_provider.json()["errors"]
    assert Agent.objects.get(pk=agent.pk).name == "mine"


def test_system_prompt_placeholders_are_rendered_and_other_braces_kept() -> None:
    rendered = render_system_prompt(
        'Today is {date}. Help {user_name} as {agent_name}. Reply as {"json": true} and keep {other}.',
        user_name="Ada",
        agent_name="Coder",
        today=date(2026, 5, 10),
    )

    assert rendered == 'Today is 2026-05-10. Help Ada as Coder. Reply as {"json": true} and keep {other}.'


V1_AGENT = {
    "name": "智能客服助手",
    "description": "用于解答常见产品问题",
    "prompt_template": "你是一个专业的客服助手...",
    "model_config": {"provider": "openai", "model_name": "gpt-4o", "temperature": 0.5, "max_tokens": 2048},
}


def test_v1_agents_crud_with_the_v1_envelope(user: Any, provider: Provider) -> None:
    client = api_client_for(user)

    created = client.post("/api/v1/agents", V1_AGENT, format="json").json()
    agent_id = created["data"]["id"]
    stored = Agent.objects.filter(pk=agent_id, provider=provider, system_prompt="你是一个专业的客服助手...").exists()
    page = client.get("/api/v1/agents?page=1&page_size=20").json()
    updated = client.put(f"/api/v1/agents/{agent_id}", {"model_config": {"temperature": 0.9}}, format="json").json()
    deleted = client.delete(f"/api/v1/agents/{agent_id}").json()

    assert (created["code"], created["message"]) == (200, "success")
    assert {k: created["data"][k] for k in ("name", "description", "prompt_template", "model_config")} == V1_AGENT
    assert stored
    assert page["data"]["total"] == 1 and page["data"]["page"] == 1 and page["data"]["page_size"] == 20
    assert page["data"]["items"][0]["id"] == agent_id
    assert updated["data"]["model_config"] == {"provider": "openai", "model_name": "gpt-4o", "temperature": 0.9, "max_tokens": 2048}
    assert deleted == {"code": 200, "message": "success", "data": None}


def test_v1_local_maps_to_a_provider_on_the_local_network(user: Any, provider: Provider) -> None:
    local = Provider.objects.create(user=None, name="ollama", provider_type="openai", base_url="http://127.0.0.1:11434/v1")
    client = api_client_for(user)

    created = client.post(
        "/api/v1/agents", {**V1_AGENT, "model_config": {"provider": "local", "model_name": "llama3"}}, format="json"
    ).json()

    assert created["data"]["model_config"] == {"provider": "local", "model_name": "llama3", "temperature": 0.7, "max_tokens": 2048}
    assert Agent.objects.get(pk=created["data"]["id"]).provider == local


def test_v1_refuses_a_provider_kind_that_is_not_available(user: Any, provider: Provider) -> None:
    response = api_client_for(user).post(
        "/api/v1/agents", {**V1_AGENT, "model_config": {"provider": "azure", "model_name": "gpt"}}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "code": 40000,
        "message": "model_config.provider: No azure provider is available: add one first.",
        "data": None,
    }


@pytest.mark.parametrize(
    "body",
    [
        {k: v for k, v in V1_AGENT.items() if k != "prompt_template"},
        {**V1_AGENT, "model_config": {"provider": "gemini", "model_name": "x"}},
        {**V1_AGENT, "model_config": {"provider": "openai", "model_name": "x", "temperature": 9}},
        {**V1_AGENT, "model_config": "openai"},
    ],
)
def test_v1_bad_agent_input_is_a_40000(user: Any, provider: Provider, body: dict) -> None:
    response = api_client_for(user).post("/api/v1/agents", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == 40000 and response.json()["data"] is None


def test_v1_page_size_is_capped_at_100(user: Any) -> None:
    response = api_client_for(user).get("/api/v1/agents?page_size=101")

    assert response.status_code == 400
    assert response.json() == {"code": 40000, "message": "page_size: Must be at least 1 and at most 100.", "data": None}


def test_v1_openai_matches_a_users_only_provider_on_this_machine_and_is_returned_as_written(user: Any) -> None:
    local = Provider.objects.create(user=user, name="vllm", provider_type="openai", base_url="http://127.0.0.1:8001/v1")
    client = api_client_for(user)

    created = client.post("/api/v1/agents", V1_AGENT, format="json")
    agent_id = created.json()["data"]["id"]
    fetched = client.get(f"/api/v1/agents/{agent_id}").json()

    assert created.status_code == 200
    assert created.json()["data"]["model_config"] == V1_AGENT["model_config"]
    assert fetched["data"]["model_config"]["provider"] == "openai"
    assert Agent.objects.get(pk=agent_id).provider == local


def test_v1_openai_prefers_a_public_provider_then_a_local_one_then_a_shared_one(user: Any) -> None:
    Provider.objects.create(user=None, name="shared", provider_type="openai", base_url="https://api.deepseek.com/v1", is_default=True)
    local = Provider.objects.create(user=user, name="ollama", provider_type="openai", base_url="http://10.0.0.5:11434/v1")
    public = Provider.objects.create(user=user, name="openai", provider_type="openai", base_url="https://api.openai.com/v1")
    Provider.objects.create(user=user, name="claude", provider_type="anthropic", base_url="https://api.anthropic.com", is_default=True)
    client = api_client_for(user)

    def chosen() -> Provider | None:
        response = client.post("/api/v1/agents", V1_AGENT, format="json").json()
        return Agent.objects.get(pk=response["data"]["id"]).provider

    first = chosen()
    public.enabled = False
    public.save()
    second = chosen()
    local.delete()
    third = chosen()

    assert (first.name if first else None, second.name if second else None) == ("openai", "ollama")
    assert third is not None and third.name == "shared"


def test_v1_local_and_azure_match_only_their_kind(user: Any) -> None:
    Provider.objects.create(user=user, name="openai", provider_type="openai", base_url="https://api.openai.com/v1", is_default=True)
    azure = Provider.objects.create(
        user=user, name="azure", provider_type="azure", base_url="https://x.openai.azure.com", api_version="2024-10-21"
    )
    client = api_client_for(user)

    local = client.post("/api/v1/agents", {**V1_AGENT, "model_config": {"provider": "local", "model_name": "m"}}, format="json")
    on_azure = client.post("/api/v1/agents", {**V1_AGENT, "model_config": {"provider": "azure", "model_name": "m"}}, format="json")

    assert local.status_code == 400
    assert local.json()["message"] == "model_config.provider: No local provider is available: add one first."
    assert on_azure.status_code == 200
    assert on_azure.json()["data"]["model_config"]["provider"] == "azure"
    assert Agent.objects.get(pk=on_azure.json()["data"]["id"]).provider == azure


def test_a_provider_chosen_by_id_is_reported_by_its_kind_in_v1(user: Any) -> None:
    local = Provider.objects.create(user=user, name="vllm", provider_type="openai", base_url="http://127.0.0.1:8001/v1")
    client = api_client_for(user)
    agent_id = client.post("/api/v1/agents", V1_AGENT, format="json").json()["data"]["id"]

    client.put(f"/api/agents/{agent_id}", {"provider_id": local.pk}, format="json")
    after = client.get(f"/api/v1/agents/{agent_id}").json()["data"]["model_config"]["provider"]
    local.delete()
    without = client.get(f"/api/v1/agents/{agent_id}").json()["data"]["model_config"]["provider"]

    assert (after, without) == ("local", None)
