"""The tool choice is remembered: each conversation keeps the tools it was last sent with,
a new conversation starts with the user's last choice, an agent's with the agent's tools."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agents.models import Agent
from chat.models import Conversation
from fakellm import Scenario, ToolCall
from tests.chat.test_stream import create_conversation, send
from tests.support.factories import api_client_for, make_user


def offered(fake_llm: Any) -> list[str]:
    body = fake_llm.requests[-1].body
    return sorted((tool.get("function") or tool)["name"] for tool in body.get("tools") or [])


@pytest.mark.django_db(transaction=True)
def test_a_new_conversation_offers_the_tools_chosen_last(live_url: str, token: str, openai_provider: Any, fake_llm: Any) -> None:
    # Given a message sent with process_data enabled
    first = create_conversation(live_url, token)
    send(live_url, token, first, "hello", enabled_tools=["process_data"])
    assert offered(fake_llm) == ["process_data"]

    # When a new conversation is created and its first message names no tools
    second = create_conversation(live_url, token)
    fake_llm.script(Scenario(tool_calls=[ToolCall("process_data", {"data": "[2, 1]"})]))
    _, events = send(live_url, token, second, "format it")

    # Then the new conversation took the last choice, and the model's tool call ran
    assert Conversation.objects.get(pk=second).enabled_tools == ["process_data"]
    assert offered(fake_llm) == ["process_data"]
    results = [e.data["step"] for e in events if e.event == "process_step" and e.data["step"]["type"] == "tool_result"]
    assert [(r["name"], r["success"]) for r in results] == [("process_data", True)]
    assert "not enabled" not in results[0]["content"]


@pytest.mark.django_db(transaction=True)
def test_each_conversation_keeps_its_own_choice(live_url: str, token: str, openai_provider: Any, fake_llm: Any) -> None:
    # Given two conversations, the first sent with a tool, the second with none
    first = create_conversation(live_url, token)
    send(live_url, token, first, "one", enabled_tools=["process_data"])
    second = create_conversation(live_url, token, enabled_tools=[])
    send(live_url, token, second, "two", enabled_tools=[])

    # When the first gets a message naming no tools
    send(live_url, token, first, "three")

    # Then it still offers its tool, and the conversations say what they keep
    assert offered(fake_llm) == ["process_data"]
    headers = {"Authorization": f"Bearer {token}"}
    shown = [httpx.get(f"{live_url}/api/conversations/{c}", headers=headers).json()["data"]["enabled_tools"] for c in (first, second)]
    assert shown == [["process_data"], []]


@pytest.mark.django_db(transaction=True)
def test_an_agents_conversation_uses_the_agents_tools_until_chosen_otherwise(
    live_url: str, token: str, user: Any, openai_provider: Any, fake_llm: Any
) -> None:
    # Given an agent with a tool, and a user whose last choice was none
    agent = Agent.objects.create(user=user, name="Formatter", provider=openai_provider, model="fake-model", enabled_tools=["process_data"])
    plain = create_conversation(live_url, token)
    send(live_url, token, plain, "none here", enabled_tools=[])

    # When a chat with the agent is created and sent to without naming tools
    conversation_id = create_conversation(live_url, token, agent_id=agent.pk)
    send(live_url, token, conversation_id, "hi")

    # Then the agent's tool is offered, and the conversation has made no choice of its own
    assert offered(fake_llm) == ["process_data"]
    assert Conversation.objects.get(pk=conversation_id).enabled_tools is None


@pytest.mark.django_db
def test_the_tool_choice_is_updated_and_checked() -> None:
    # Given a user's conversation, and another user's
    user, other = make_user(), make_user()
    client = api_client_for(user)
    mine = Conversation.objects.create(user=user, model="m")
    theirs = Conversation.objects.create(user=other, model="m")

    # When tools are chosen, unknown ones named, or the wrong type sent
    chosen = client.put(f"/api/conversations/{mine.pk}", {"enabled_tools": ["process_data", "web_search"]}, format="json")
    unknown = client.put(f"/api/conversations/{mine.pk}", {"enabled_tools": ["no_such_tool"]}, format="json")
    wrong_type = client.put(f"/api/conversations/{mine.pk}", {"enabled_tools": "process_data"}, format="json")
    created_unknown = client.post("/api/conversations/", {"enabled_tools": ["no_such_tool"]}, format="json")
    foreign = client.put(f"/api/conversations/{theirs.pk}", {"enabled_tools": []}, format="json")

    # Then a valid choice is kept; the others are refused, naming the field
    assert chosen.status_code == 200 and chosen.json()["data"]["enabled_tools"] == ["process_data", "web_search"]
    assert unknown.status_code == 400 and unknown.json()["errors"] == {"enabled_tools": ["Unknown tools: no_such_tool."]}
    assert wrong_type.status_code == 400 and "enabled_tools" in wrong_type.json()["errors"]
    assert created_unknown.status_code == 400 and "enabled_tools" in created_unknown.json()["errors"]
    assert foreign.status_code == 404
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.enabled_tools, theirs.enabled_tools) == (["process_data", "web_search"], None)
