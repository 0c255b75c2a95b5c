"""The v1 dialect's conversations: create with an agent, token/done/error lines, history."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agents.models import Agent, Provider
from fakellm import Scenario
from tests.support.factories import access_token_for, api_client_for, make_user
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def agent(user: Any, openai_provider: Provider) -> Agent:
    return Agent.objects.create(
        user=user, name="Helper", provider=openai_provider, model="fake-model", system_prompt="You help {user_name}."
    )


def test_a_v1_conversation_streams_token_and_done_lines(live_url: str, user: Any, token: str, agent: Agent, fake_llm: Any) -> None:
    fake_llm.script(Scenario(thinking="hidden thoughts", text="你好，请问有什么可以帮您？"))
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(f"{live_url}/api/v1/conversations", json={"agent_id": agent.pk, "title": "客服"}, headers=headers).json()
    assert created["code"] == 200 and created["message"] == "success"
    conversation_id = created["data"]["id"]

    with httpx.stream(
        "POST", f"{live_url}/api/v1/conversations/{conversation_id}/messages", json={"content": "你好"}, headers=headers, timeout=30
    ) as response:
        text = response.read().decode()

    events = parse_sse(text)
    assert all(e.event is None for e in events)
    assert [e.data["type"] for e in events][-1] == "done"
    assert {e.data["type"] for e in events[:-1]} == {"token"}
    assert "".join(e.data["content"] for e in events[:-1]) == "你好，请问有什么可以帮您？"
    assert "\\u" not in text
    assert events[-1].data["message_id"].startswith("msg_")
    assert events[-1].data["usage"]["total_tokens"] > 0
    assert fake_llm.requests[-1].body["messages"][0] == {"role": "system", "content": f"You help {user.username}."}

    history = httpx.get(f"{live_url}/api/v1/conversations/{conversation_id}/messages?page=1", headers=headers).json()
    assert history["code"] == 200
    assert history["data"]["page_size"] == 50
    assert [(m["role"], m["content"]) for m in history["data"]["items"]] == [("user", "你好"), ("assistant", "你好，请问有什么可以帮您？")]


def test_a_v1_upstream_failure_is_an_error_line(live_url: str, token: str, agent: Agent, fake_llm: Any) -> None:
    fake_llm.script(*[Scenario(fault="500")] * 5)
    headers = {"Authorization": f"Bearer {token}"}
    conversation_id = httpx.post(f"{live_url}/api/v1/conversations", json={"agent_id": agent.pk}, headers=headers).json()["data"]["id"]

    with httpx.stream(
        "POST", f"{live_url}/api/v1/conversations/{conversation_id}/messages", json={"content": "hi"}, headers=headers, timeout=30
    ) as response:
        events = parse_sse(response.read().decode())

    assert [e.data["type"] for e in events] == ["error"]
    assert "HTTP 500" in events[0].data["content"]


def test_v1_conversations_refuse_bad_input_and_other_users(user: Any, agent: Agent) -> None:
    stranger = make_user()
    mine = api_client_for(user)
    theirs = api_client_for(stranger)
    conversation_id = mine.post("/api/v1/conversations", {"agent_id": agent.pk}, format="json").json()["data"]["id"]

    missing = mine.post("/api/v1/conversations", {}, format="json")
    foreign_agent = theirs.post("/api/v1/conversations", {"agent_id": agent.pk}, format="json")
    foreign_history = theirs.get(f"/api/v1/conversations/{conversation_id}/messages")
    foreign_send = theirs.post(f"/api/v1/conversations/{conversation_id}/messages", {"content": "hi"}, format="json")
    empty = mine.post(f"/api/v1/conversations/{conversation_id}/messages", {"content": ""}, format="json")

    assert missing.status_code == 400 and missing.json()["code"] == 40000 and "agent_id" in missing.json()["message"]
    assert foreign_agent.status_code == 400 and foreign_agent.json()["data"] is None
    assert foreign_history.status_code == 404 and foreign_history.json() == {
        "code": 40400,
        "message": "Conversation not found.",
        "data": None,
    }
    assert foreign_send.status_code == 404
    assert empty.status_code == 400 and empty.json()["code"] == 40000
    assert access_token_for(user)
