"""Documents uploaded with no agent ("No agent (all chats)") answer in every chat of their
owner, with citations; an agent's documents only in that agent's chats."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.models import Agent
from chat import services as chat
from chat.models import Message
from knowledge import services
from tests.chat.conftest import make_provider
from tests.support.factories import access_token_for, make_user
from tests.support.sse import parse_sse

POLICY = "# Returns policy\n\nCustomers may return any item within 30 days for a full refund."
FERRY = "# Ferry\n\nThe ferry to the lighthouse leaves every morning at seven."
RETURN_CITATION = {
    "index": 1,
    "document_name": "policy.md",
    "chunk_index": 0,
    "page": None,
    "heading": "Returns policy",
    "snippet": "Customers may return any item within 30 days for a full refund.",
}


def send(live_url: str, user: Any, question: str, **conversation: Any) -> list[Any]:
    """One message in a new conversation (an agent's when ``agent_id`` is given)."""
    headers = {"Authorization": f"Bearer {access_token_for(user)}"}
    created = httpx.post(f"{live_url}/api/conversations/", json=conversation, headers=headers, timeout=60)
    body = {"conversation_id": created.json()["data"]["id"], "content": question}
    with httpx.stream("POST", f"{live_url}/api/messages/stream", json=body, headers=headers, timeout=60) as response:
        return parse_sse(response.read().decode())


def system_prompt(fake_llm: Any) -> str:
    first = fake_llm.requests[-1].body["messages"][0]
    return first["content"] if first["role"] == "system" else ""


def cited_names(events: list[Any]) -> list[str]:
    assert events[-1].event == "done"
    return [citation["document_name"] for citation in events[-1].data.get("citations", [])]


@pytest.mark.django_db(transaction=True)
def test_a_document_for_all_chats_answers_in_a_plain_chat_with_citations(live_url: str, fake_llm: Any) -> None:
    # Given a document uploaded with no agent
    user = make_user()
    make_provider(user, fake_llm)
    document = services.document_upload(user=user, agent=None, name="policy.md", data=POLICY.encode(), background=False)

    # When the user asks about it in a plain chat (no agent)
    events = send(live_url, user, "How many days do I have to return an item?")

    # Then the model got the passage as a numbered source and the reply cites it
    assert "[1] policy.md (Returns policy)\nCustomers may return any item within 30 days for a full refund." in system_prompt(fake_llm)
    expected = {**RETURN_CITATION, "document_id": document.pk}
    assert events[-1].event == "done"
    assert events[-1].data["citations"] == [expected]
    assert Message.objects.get(pk=events[-1].data["message_id"]).citations == [expected]


@pytest.mark.django_db(transaction=True)
def test_an_agents_chat_answers_from_its_documents_and_the_ones_for_all_chats(live_url: str, fake_llm: Any) -> None:
    # Given a document for all chats and one attached to an agent
    user = make_user()
    provider = make_provider(user, fake_llm)
    guide = Agent.objects.create(user=user, name="Guide", provider=provider, model="fake-model")
    services.document_upload(user=user, agent=None, name="policy.md", data=POLICY.encode(), background=False)
    services.document_upload(user=user, agent=guide, name="ferry.md", data=FERRY.encode(), background=False)
    question = "When does the ferry leave, and how many days do I have to return an item?"

    # When the same question is asked in the agent's chat and in a plain chat
    in_agent_chat = send(live_url, user, question, agent_id=guide.pk)
    agent_prompt = system_prompt(fake_llm)
    in_plain_chat = send(live_url, user, question)
    plain_prompt = system_prompt(fake_llm)

    # Then the agent's chat uses both; the plain chat only the one for all chats
    assert sorted(cited_names(in_agent_chat)) == ["ferry.md", "policy.md"]
    assert "ferry.md" in agent_prompt and "policy.md" in agent_prompt
    assert cited_names(in_plain_chat) == ["policy.md"]
    assert "ferry.md" not in plain_prompt and "policy.md" in plain_prompt


@pytest.mark.django_db(transaction=True)
def test_another_users_documents_for_all_chats_are_never_used(live_url: str, fake_llm: Any) -> None:
    # Given someone else's document for all their chats
    owner, stranger = make_user(), make_user()
    make_provider(stranger, fake_llm)
    services.document_upload(user=owner, agent=None, name="policy.md", data=POLICY.encode(), background=False)

    # When another user asks about it
    events = send(live_url, stranger, "How many days do I have to return an item?")

    # Then nothing of it reaches the model or the reply
    assert cited_names(events) == []
    assert "policy.md" not in system_prompt(fake_llm) and "refund" not in system_prompt(fake_llm)


@pytest.mark.django_db
@pytest.mark.parametrize("with_agent", [False, True])
def test_a_chat_without_documents_costs_no_query_of_its_own_for_them(fake_llm: Any, with_agent: bool) -> None:
    # Given a user without documents, and a chat (plain, or an agent's)
    user = make_user()
    provider = make_provider(user, fake_llm)
    agent = Agent.objects.create(user=user, name="Empty", provider=provider, model="fake-model") if with_agent else None
    conversation = chat.conversation_create(user=user, agent_id=agent.pk if agent else None)

    # When a turn is prepared
    with CaptureQueriesContext(connection) as captured:
        prepared = chat.turn_prepare(user=user, conversation_id=conversation.pk, content="Where is the lighthouse?")

    # Then the documents are an EXISTS in the query that reads the conversation, no chunk
    # is read, and there are no citations
    on_documents = [q["sql"] for q in captured.captured_queries if "knowledge_document" in q["sql"]]
    assert len(on_documents) == 1
    assert "EXISTS" in on_documents[0] and 'FROM "chat_conversation"' in on_documents[0]
    assert not any("knowledge_chunk" in q["sql"] for q in captured.captured_queries)
    assert prepared.citations == []
