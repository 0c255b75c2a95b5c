"""Conversations and messages endpoints: shapes, ownership, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from agents.models import Agent, Provider
from chat.models import Conversation, Message, MessageStatus
from tests.support.factories import api_client_for, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner() -> Any:
    return make_user(level=3)


@pytest.fixture
def stranger() -> Any:
    return make_user(level=3)


@pytest.fixture
def own_provider(owner: Any) -> Provider:
    provider = Provider(user=owner, name="p", provider_type="openai", base_url="http://127.0.0.1:9/v1", default_model="m1", is_default=True)
    provider.api_key = "sk-never-shown-123456"
    provider.save()
    return provider


def test_it_creates_a_conversation_with_the_seed_shape(owner: Any, own_provider: Provider) -> None:
    response = api_client_for(owner).post(
        "/api/conversations/",
        {
            "title": "新会话",
            "model": "deepseek-chat",
            "provider_id": own_provider.pk,
            "system_prompt": "Be brief.",
            "temperature": 0.7,
            "max_tokens": 2000,
            "thinking_enabled": False,
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Conversation created"
    data = body["data"]
    assert data["id"].startswith("conv_") and len(data["id"]) == 21
    assert {
        k: data[k] for k in ("user_id", "provider_id", "title", "model", "system_prompt", "temperature", "max_tokens", "thinking_enabled")
    } == {
        "user_id": owner.pk,
        "provider_id": own_provider.pk,
        "title": "新会话",
        "model": "deepseek-chat",
        "system_prompt": "Be brief.",
        "temperature": 0.7,
        "max_tokens": 2000,
        "thinking_enabled": False,
    }
    assert "created_at" in data and "updated_at" in data


def test_it_uses_the_default_provider_and_its_model_when_none_is_named(owner: Any, own_provider: Provider) -> None:
    response = api_client_for(owner).post("/api/conversations/", {}, format="json")

    assert response.status_code == 201
    assert response.json()["data"]["provider_id"] == own_provider.pk
    assert response.json()["data"]["model"] == "m1"


def test_an_agent_supplies_the_conversation_defaults(owner: Any, own_provider: Provider) -> None:
    agent = Agent.objects.create(user=owner, name="Coder", provider=own_provider, model="m-agent", temperature=0.2, max_tokens=999)

    response = api_client_for(owner).post("/api/conversations/", {"agent_id": agent.pk}, format="json")

    data = response.json()["data"]
    assert (data["agent_id"], data["model"], data["temperature"], data["max_tokens"], data["title"]) == (
        agent.pk,
        "m-agent",
        0.2,
        999,
        "Coder",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider_id": 99999}, "provider_id"),
        ({"provider_id": "1"}, "provider_id"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 10_000_000}, "max_tokens"),
        ({"thinking_enabled": "yes"}, "thinking_enabled"),
        ({"title": 5}, "title"),
        ({"agent_id": 424242}, "agent_id"),
    ],
)
def test_it_rejects_bad_conversation_input_naming_the_field(owner: Any, own_provider: Provider, body: dict, field: str) -> None:
    response = api_client_for(owner).post("/api/conversations/", body, format="json")

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert field in response.json()["errors"]
    assert response.json()["message"].startswith(f"{field}:")


def test_a_model_is_required_when_the_provider_has_no_default(owner: Any) -> None:
    Provider.objects.create(user=owner, name="bare", provider_type="openai", base_url="http://127.0.0.1:9/v1", is_default=True)

    response = api_client_for(owner).post("/api/conversations/", {}, format="json")

    assert response.status_code == 400
    assert "model" in response.json()["errors"]


def test_without_any_provider_creation_says_to_add_one(owner: Any) -> None:
    response = api_client_for(owner).post("/api/conversations/", {}, format="json")

    assert response.status_code == 400
    assert "add a provider" in response.json()["message"]


def test_it_lists_only_own_conversations_paginated(owner: Any, stranger: Any, own_provider: Provider) -> None:
    for i in range(3):
        Conversation.objects.create(user=owner, title=f"c{i}", provider=own_provider, model="m1", project_id="p1" if i else None)
    Conversation.objects.create(user=stranger, title="theirs", model="m1")

    client = api_client_for(owner)
    page = client.get("/api/conversations/?page=1&page_size=2").json()["data"]
    by_project = client.get("/api/conversations/?project_id=p1").json()["data"]

    assert page["total"] == 3 and page["page"] == 1 and page["page_size"] == 2 and len(page["items"]) == 2
    assert {c["title"] for c in by_project["items"]} == {"c1", "c2"}
    assert client.get("/api/conversations/?page_size=101").status_code == 400
    assert client.get("/api/conversations/?page=abc").status_code == 400
    far = client.get("/api/conversations/?page=225960186544783808&page_size=95")
    assert far.status_code == 200 and far.json()["data"]["items"] == [] and far.json()["data"]["total"] == 3
    empty = client.get("/api/conversations/?page=")
    assert empty.status_code == 400 and empty.json()["errors"] == {"page": ["Must be a whole number."]}
    for name in ("search", "project_id"):
        nul = client.get("/api/conversations/", {name: "a\x00b"})
        assert nul.status_code == 400 and nul.json()["errors"] == {name: ["Null characters are not allowed."]}


def test_it_updates_and_deletes_a_conversation(owner: Any, own_provider: Provider) -> None:
    conversation = Conversation.objects.create(user=owner, title="old", provider=own_provider, model="m1")
    client = api_client_for(owner)

    updated = client.put(
        f"/api/conversations/{conversation.pk}", {"title": "new", "temperature": 1.5, "thinking_enabled": True}, format="json"
    )
    deleted = client.delete(f"/api/conversations/{conversation.pk}")

    assert updated.status_code == 200
    assert (updated.json()["data"]["title"], updated.json()["data"]["temperature"], updated.json()["data"]["thinking_enabled"]) == (
        "new",
        1.5,
        True,
    )
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True, "message": "Conversation deleted", "data": None}
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


# The streaming endpoint prepares the turn on the database pool's own connection.
@pytest.mark.django_db(transaction=True)
def test_another_users_conversation_and_messages_are_404_everywhere(owner: Any, stranger: Any, own_provider: Provider) -> None:
    conversation = Conversation.objects.create(user=owner, title="mine", provider=own_provider, model="m1")
    message = Message.objects.create(user=owner, conversation=conversation, role="user", content="secret")
    client = api_client_for(stranger)

    responses = [
        client.get(f"/api/conversations/{conversation.pk}"),
        client.put(f"/api/conversations/{conversation.pk}", {"title": "x"}, format="json"),
        client.delete(f"/api/conversations/{conversation.pk}"),
        client.get(f"/api/messages/?conversation_id={conversation.pk}"),
        client.post("/api/messages/", {"conversation_id": conversation.pk, "content": "hi"}, format="json"),
        client.post("/api/messages/stream", {"conversation_id": conversation.pk, "content": "hi"}, format="json"),
        client.delete(f"/api/messages/{message.pk}"),
        client.post(f"/api/messages/{message.pk}/stop"),
    ]

    assert [r.status_code for r in responses] == [404] * len(responses)
    assert all(r.json()["success"] is False for r in responses)
    assert Message.objects.filter(pk=message.pk).exists()


def test_using_another_users_provider_is_refused(owner: Any, stranger: Any, own_provider: Provider) -> None:
    response = api_client_for(stranger).post("/api/conversations/", {"provider_id": own_provider.pk, "model": "m"}, format="json")

    assert response.status_code == 400
    assert "provider_id" in response.json()["errors"]


def test_message_listing_has_the_seed_shape(owner: Any, own_provider: Provider) -> None:
    conversation = Conversation.objects.create(user=owner, title="T", provider=own_provider, model="m1")
    question = Message.objects.create(user=owner, conversation=conversation, role="user", content="用户消息", token_count=3)
    Message.objects.create(
        user=owner,
        conversation=conversation,
        parent=question,
        role="assistant",
        content="reply",
        process_steps=[{"id": "step-0", "index": 0, "type": "text", "content": "reply"}],
        usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        token_count=2,
    )

    data = api_client_for(owner).get(f"/api/messages/?conversation_id={conversation.pk}&limit=100").json()["data"]

    assert data["title"] == "T"
    assert data["first_message"] == "用户消息"
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    first, second = data["messages"]
    assert first["content"] == first["text"] == "用户消息"
    assert first["attachments"] == [] and first["process_steps"] == [] and first["usage"] is None
    assert second["process_steps"][0]["type"] == "text"
    assert second["usage"]["total_tokens"] == 2
    assert second["status"] == "complete"


# The streaming endpoint prepares the turn on the database pool's own connection.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": "hi"}, "conversation_id"),
        ({"conversation_id": "X", "content": ""}, "content"),
        ({"conversation_id": "X", "content": 7}, "content"),
        ({"conversation_id": "X", "content": "hi", "enabled_tools": "web_search"}, "enabled_tools"),
        ({"conversation_id": "X", "content": "hi", "thinking_enabled": "no"}, "thinking_enabled"),
    ],
)
def test_sending_rejects_bad_input_naming_the_field(owner: Any, own_provider: Provider, body: dict, field: str) -> None:
    conversation = Conversation.objects.create(user=owner, provider=own_provider, model="m1")
    body = {k: (conversation.pk if v == "X" else v) for k, v in body.items()}

    for path in ("/api/messages/", "/api/messages/stream"):
        response = api_client_for(owner).post(path, body, format="json")
        assert response.status_code == 400, (path, response.content)
        assert field in response.json()["errors"]
    assert Message.objects.count() == 0


# The streaming endpoint prepares the turn on the database pool's own connection.
@pytest.mark.django_db(transaction=True)
def test_sending_rejects_oversize_and_blank_content_and_unknown_tools(owner: Any, own_provider: Provider) -> None:
    conversation = Conversation.objects.create(user=owner, provider=own_provider, model="m1")
    client = api_client_for(owner)

    oversize = client.post("/api/messages/stream", {"conversation_id": conversation.pk, "content": "x" * 100_001}, format="json")
    blank = client.post("/api/messages/stream", {"conversation_id": conversation.pk, "content": "   "}, format="json")
    unknown = client.post(
        "/api/messages/stream", {"conversation_id": conversation.pk, "content": "hi", "enabled_tools": ["nope"]}, format="json"
    )
    malformed = client.post("/api/messages/stream", data="{not json", content_type="application/json")

    assert (oversize.status_code, blank.status_code, unknown.status_code, malformed.status_code) == (400, 400, 400, 400)
    assert "too long" in oversize.json()["message"]
    assert "empty" in blank.json()["message"]
    assert "nope" in unknown.json()["message"]
    assert Message.objects.count() == 0


def test_deleting_a_streaming_message_is_a_conflict(owner: Any, own_provider: Provider) -> None:
    conversation = Conversation.objects.create(user=owner, provider=own_provider, model="m1")
    message = Message.objects.create(user=owner, conversation=conversation, role="assistant", status=MessageStatus.STREAMING)

    assert api_client_for(owner).delete(f"/api/messages/{message.pk}").status_code == 409


def test_no_chat_endpoint_ever_shows_the_api_key(owner: Any, own_provider: Provider) -> None:
    conversation = Conversation.objects.create(user=owner, provider=own_provider, model="m1")
    client = api_client_for(owner)

    bodies = [
        client.get("/api/conversations/").content,
        client.get(f"/api/conversations/{conversation.pk}").content,
        client.get(f"/api/messages/?conversation_id={conversation.pk}").content,
    ]

    assert all(b"sk-never-shown-123456" not in body for body in bodies)
    assert own_provider.api_key_encrypted != "sk-never-shown-123456"


def test_errors_are_in_the_callers_language() -> None:
    client = api_client_for(make_user())

    missing = client.get("/api/messages/?conversation_id=conv_doesnotexist0000", HTTP_ACCEPT_LANGUAGE="zh-hans")
    english = client.get("/api/messages/?conversation_id=conv_doesnotexist0000")

    assert (missing.status_code, missing.json()["message"]) == (404, "找不到该对话。")
    assert english.json()["message"] == "Conversation not found."
