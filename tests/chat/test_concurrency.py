"""Many streams through one server process keep their contents apart."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from chat.models import Conversation, Message, MessageStatus
from fakellm import Scenario
from tests.support.sse import parse_sse, rebuild_steps

pytestmark = pytest.mark.django_db(transaction=True)

STREAMS = 50


def test_fifty_concurrent_streams_complete_with_their_own_contents(
    live_url: str, user: Any, token: str, openai_provider: Any, fake_llm: Any
) -> None:
    conversations = [Conversation.objects.create(user=user, provider=openai_provider, model="fake-model") for _ in range(STREAMS)]
    for i in range(STREAMS):
        fake_llm.script(
            Scenario(text=f"Reply number {i} " + " ".join(f"w{i}x{j}" for j in range(30)), tokens_per_second=300), match=f"question {i}?"
        )

    async def one(client: httpx.AsyncClient, i: int) -> tuple[int, str]:
        body = {"conversation_id": conversations[i].pk, "content": f"question {i}?"}
        async with client.stream(
            "POST", f"{live_url}/api/messages/stream", json=body, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            text = (await response.aread()).decode()
        events = parse_sse(text)
        assert events[-1].event == "done", text[-300:]
        assert [e.event for e in events].count("done") == 1
        return i, "".join(s["content"] for s in rebuild_steps(events))

    async def run_all() -> list[tuple[int, str]]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=STREAMS)) as client:
            return await asyncio.gather(*(one(client, i) for i in range(STREAMS)))

    results = asyncio.run(run_all())

    for i, text in results:
        assert text == f"Reply number {i} " + " ".join(f"w{i}x{j}" for j in range(30))
    stored = Message.objects.filter(role="assistant", conversation__in=conversations)
    assert stored.count() == STREAMS
    assert set(stored.values_list("status", flat=True)) == {MessageStatus.COMPLETE}
    for message in stored.select_related("conversation"):
        i = conversations.index(message.conversation)
        assert message.content == f"Reply number {i} " + " ".join(f"w{i}x{j}" for j in range(30))
