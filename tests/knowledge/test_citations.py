"""An agent with documents answers from them: the passages reach the model, the reply cites them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agents.models import Agent
from chat.models import Message
from knowledge import services
from tests.chat.conftest import make_provider
from tests.support.factories import access_token_for, make_user
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)

DOC = (
    "# Returns policy\n\nCustomers may return any item within 30 days for a full refund.\n\n"
    "# Shipping\n\nOrders ship within two business days."
)


def test_a_chat_with_an_agent_that_has_documents_cites_them(live_url: str, fake_llm: Any) -> None:
    user = make_user()
    provider = make_provider(user, fake_llm)
    agent = Agent.objects.create(user=user, name="Support", provider=provider, model="fake-model", system_prompt="You are support.")
    document = services.document_upload(user=user, agent=agent, name="policy.md", data=DOC.encode(), background=False)
    headers = {"Authorization": f"Bearer {access_token_for(user)}"}
    conversation_id = httpx.post(f"{live_url}/api/conversations/", json={"agent_id": agent.pk}, headers=headers, timeout=60).json()["data"][
        "id"
    ]

    with httpx.stream(
        "POST",
        f"{live_url}/api/messages/stream",
        json={"conversation_id": conversation_id, "content": "How many days do I have to return an item?"},
        headers=headers,
        timeout=60,
    ) as r:
        events = parse_sse(r.read().decode())

    system = fake_llm.requests[-1].body["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("You are support.")
    assert "[1] policy.md (Returns policy)\nCustomers may return any item within 30 days for a full refund." in system["content"]
    done = events[-1]
    assert done.event == "done"
    expected = {
        "index": 1,
        "document_id": document.pk,
        "document_name": "policy.md",
        "chunk_index": 0,
        "page": None,
        "heading": "Returns policy",
        "snippet": "Customers may return any item within 30 days for a full refund.",
    }
    assert done.data["citations"][0] == expected
    assert Message.objects.get(pk=done.data["message_id"]).citations[0] == expected
    listed = httpx.get(f"{live_url}/api/messages/?conversation_id={conversation_id}", headers=headers, timeout=60).json()["data"][
        "messages"
    ]
    assert listed[-1]["citations"][0] == expected


def test_an_agent_without_documents_gets_no_sources(live_url: str, fake_llm: Any) -> None:
    user = make_user()
    agent = Agent.objects.create(
        user=user, name="Plain", provider=make_provider(user, fake_llm), model="fake-model", system_prompt="Plain."
    )
    headers = {"Authorization": f"Bearer {access_token_for(user)}"}
    conversation_id = httpx.post(f"{live_url}/api/conversations/", json={"agent_id": agent.pk}, headers=headers, timeout=60).json()["data"][
        "id"
    ]

    with httpx.stream(
        "POST", f"{live_url}/api/messages/stream", json={"conversation_id": conversation_id, "content": "hi"}, headers=headers, timeout=60
    ) as r:
        events = parse_sse(r.read().decode())

    assert fake_llm.requests[-1].body["messages"][0] == {"role": "system", "content": "Plain."}
    assert "citations" not in events[-1].data


def test_a_v1_conversation_with_the_agent_cites_the_documents_in_its_done_line(live_url: str, fake_llm: Any) -> None:
    user = make_user()
    agent = Agent.objects.create(
        user=user, name="Support", provider=make_provider(user, fake_llm), model="fake-model", system_prompt="Help."
    )
    document = services.document_upload(user=user, agent=agent, name="policy.md", data=DOC.encode(), background=False)
    headers = {"Authorization": f"Bearer {access_token_for(user)}"}
    conversation_id = httpx.post(f"{live_url}/api/v1/conversations", json={"agent_id": agent.pk}, headers=headers, timeout=60).json()[
        "data"
    ]["id"]

    with httpx.stream(
        "POST",
        f"{live_url}/api/v1/conversations/{conversation_id}/messages",
        json={"content": "When do orders ship?"},
        headers=headers,
        timeout=60,
    ) as r:
        events = parse_sse(r.read().decode())

    assert "[1] policy.md (Shipping)\nOrders ship within two business days." in fake_llm.requests[-1].body["messages"][0]["content"]
    done = events[-1].data
    assert done["type"] == "done"
    assert (done["citations"][0]["document_id"], done["citations"][0]["heading"]) == (document.pk, "Shipping")


def test_a_whole_reply_without_streaming_carries_its_citations(live_url: str, fake_llm: Any) -> None:
    user = make_user()
    agent = Agent.objects.create(
        user=user, name="Support", provider=make_provider(user, fake_llm), model="fake-model", system_prompt="Help."
    )
    services.document_upload(user=user, agent=agent, name="policy.md", data=DOC.encode(), background=False)
    headers = {"Authorization": f"Bearer {access_token_for(user)}"}
    conversation_id = httpx.post(f"{live_url}/api/conversations/", json={"agent_id": agent.pk}, headers=headers, timeout=60).json()["data"][
        "id"
    ]

    response = httpx.post(
        f"{live_url}/api/messages/",
        json={"conversation_id": conversation_id, "content": "Can I get a refund?"},
        headers=headers,
        timeout=60,
    )

    assert response.status_code == 200
    citations = response.json()["data"]["assistant_message"]["citations"]
    assert (citations[0]["index"], citations[0]["document_name"], citations[0]["heading"]) == (1, "policy.md", "Returns policy")
