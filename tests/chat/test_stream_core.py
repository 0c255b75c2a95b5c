"""The streaming core: what the shared reply writer stores while and after a reply streams,
usage of stopped replies, retries announced before the first token, and provider settings
read fresh on every turn."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from chat.models import Message, MessageStatus
from fakellm import Scenario, ToolCall
from tests.chat.test_faults import wait_for_status
from tests.chat.test_stream import create_conversation, send
from tests.support.sse import parse_sse, rebuild_steps
from toolbox.registry import Tool, registry

pytestmark = pytest.mark.django_db(transaction=True)


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_reply_is_stored_while_it_streams_not_only_at_the_end(live_url: str, token: str, openai_provider: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(tokens=300, tokens_per_second=60))
    conversation_id = create_conversation(live_url, token)
    body = {"conversation_id": conversation_id, "content": "long please"}

    stored_midway: list[str] = []
    received_midway = 0
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{live_url}/api/messages/stream", json=body, headers=_headers(token)) as r,
    ):
        started = time.monotonic()
        text = ""
        for chunk in r.iter_text():
            text += chunk
            if not stored_midway and time.monotonic() - started > 2.5:
                message = Message.objects.get(conversation_id=conversation_id, role="assistant")
                stored_midway.append(message.content)
                received_midway = len("".join(s["content"] for s in rebuild_steps(parse_sse(text.rsplit("\n\n", 1)[0] + "\n\n"))).split())
                assert message.status == MessageStatus.STREAMING

    events = parse_sse(text)
    final = Message.objects.get(pk=events[-1].data["message_id"])
    assert final.status == MessageStatus.COMPLETE
    # Written about once a second: the stored text trails the client by a second or two of
    # tokens (60 a second), never by the whole reply.
    assert stored_midway[0]
    assert len(stored_midway[0].split()) >= received_midway - 120
    assert final.content.startswith(stored_midway[0])
    assert final.content == "".join(s["content"] for s in rebuild_steps(events))


def test_a_stopped_reply_reports_the_usage_it_produced_marked_as_estimated(
    live_url: str, token: str, openai_provider: Any, fake_llm: Any
) -> None:
    fake_llm.script(Scenario(tokens=500, tokens_per_second=100))
    conversation_id = create_conversation(live_url, token)
    body = {"conversation_id": conversation_id, "content": "long please"}

    received = ""
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{live_url}/api/messages/stream", json=body, headers=_headers(token)) as r,
    ):
        stop_sent = False
        for chunk in r.iter_text():
            received += chunk
            if not stop_sent and received.count("process_step") >= 10:
                message = wait_for_status({"conversation_id": conversation_id}, MessageStatus.STREAMING)
                assert httpx.post(f"{live_url}/api/messages/{message.pk}/stop", headers=_headers(token)).status_code == 200
                stop_sent = True

    done = parse_sse(received)[-1]
    assert done.event == "done"
    assert done.data["status"] == "stopped"
    usage = done.data["usage"]
    assert usage["estimated"] is True
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    assert done.data["token_count"] == usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    stored = Message.objects.get(pk=done.data["message_id"])
    assert stored.usage == usage
    assert stored.token_count == usage["total_tokens"]


def test_a_complete_reply_reports_the_providers_usage_unmarked(live_url: str, token: str, openai_provider: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(text="Short and done."))
    conversation_id = create_conversation(live_url, token)

    _, events = send(live_url, token, conversation_id, "hi")

    assert "estimated" not in events[-1].data["usage"]


def test_a_retry_before_the_first_token_is_announced_and_the_reply_follows(
    live_url: str, token: str, openai_provider: Any, fake_llm: Any
) -> None:
    fake_llm.script(Scenario(fault="500"), Scenario(text="Back again."))
    conversation_id = create_conversation(live_url, token)

    _, events = send(live_url, token, conversation_id, "hello")

    assert [e.event for e in events][:2] == ["retrying", "process_step"]
    assert {e.event for e in events[1:-1]} == {"process_step"}
    assert events[-1].event == "done"
    assert events[0].data["attempt"] == 2
    assert events[0].data["max_attempts"] == 3
    assert events[0].data["delay_seconds"] > 0
    assert "HTTP 500" in events[0].data["reason"]
    assert Message.objects.get(pk=events[-1].data["message_id"]).content == "Back again."
    assert len(fake_llm.requests) == 2


@pytest.fixture
def slow_tool() -> Any:
    async def wait(args: dict[str, Any], ctx: Any) -> Any:
        import asyncio

        await asyncio.sleep(3.0)
        return {"waited": 3}

    tool = Tool(
        name="test_slow", description="Takes three seconds", category="data", parameters={"type": "object"}, required_level=1, handler=wait
    )
    registry.register(tool)
    yield tool
    registry.unregister(tool.name)


def test_a_reply_waiting_for_a_slow_tool_keeps_its_heartbeat(
    live_url: str, token: str, openai_provider: Any, fake_llm: Any, slow_tool: Any
) -> None:
    fake_llm.script(Scenario(tool_calls=[ToolCall("test_slow", {})]), Scenario(text="Done waiting."))
    conversation_id = create_conversation(live_url, token)
    body = {"conversation_id": conversation_id, "content": "wait", "enabled_tools": ["test_slow"]}

    beats = []
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{live_url}/api/messages/stream", json=body, headers=_headers(token)) as r,
    ):
        text = ""
        for chunk in r.iter_text():
            text += chunk
            if '"type":"tool_call"' in text and not beats:
                for _ in range(3):
                    time.sleep(0.9)
                    beats.append(Message.objects.get(conversation_id=conversation_id, role="assistant").updated_at)

    assert parse_sse(text)[-1].event == "done"
    # Nothing new streamed while the tool ran, yet the stored reply was touched every second.
    assert beats[0] < beats[1] < beats[2]


def test_provider_edits_and_a_removed_key_apply_to_the_next_turn(live_url: str, token: str, openai_provider: Any, fake_llm: Any) -> None:
    conversation_id = create_conversation(live_url, token)
    send(live_url, token, conversation_id, "one")
    first_key = fake_llm.requests[-1].headers["Authorization"]

    changed = httpx.put(f"{live_url}/api/providers/{openai_provider.pk}", json={"api_key": "sk-rotated-key-0001"}, headers=_headers(token))
    assert changed.status_code == 200, changed.text
    send(live_url, token, conversation_id, "two")
    second_key = fake_llm.requests[-1].headers["Authorization"]

    httpx.put(f"{live_url}/api/providers/{openai_provider.pk}", json={"api_key": ""}, headers=_headers(token))
    send(live_url, token, conversation_id, "three")
    third_key = fake_llm.requests[-1].headers["Authorization"]

    assert first_key == "Bearer sk-secret-key-for-tests-0123456789"
    assert second_key == "Bearer sk-rotated-key-0001"
    assert third_key == "Bearer not-needed"
