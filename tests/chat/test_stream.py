"""Streaming replies over a real ASGI server, through the real SDKs, against the fake LLM."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from chat.models import Message, MessageStatus
from fakellm import Scenario, ToolCall
from tests.support.sse import rebuild_steps, stream_events

pytestmark = pytest.mark.django_db(transaction=True)


def create_conversation(url: str, token: str, **body: Any) -> str:
    response = httpx.post(f"{url}/api/conversations/", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


def send(url: str, token: str, conversation_id: str, content: str, **extra: Any) -> tuple[httpx.Response, list[Any]]:
    with httpx.Client() as client:
        return stream_events(client, f"{url}/api/messages/stream", {"conversation_id": conversation_id, "content": content, **extra}, token)


def assert_stream_matches_stored(events: list[Any]) -> Message:
    done = events[-1]
    assert done.event == "done"
    message = Message.objects.get(pk=done.data["message_id"])
    assert rebuild_steps(events) == message.process_steps
    assert [step["id"] for step in message.process_steps] == [f"step-{i}" for i in range(len(message.process_steps))]
    assert [step["index"] for step in message.process_steps] == list(range(len(message.process_steps)))
    assert done.data["usage"] == message.usage
    assert done.data["token_count"] == message.token_count == message.usage["total_tokens"]
    return message


def test_a_plain_reply_streams_as_one_text_step(live_url: str, token: str, provider: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(text="Hello there, how can I help?"))
    conversation_id = create_conversation(live_url, token)

    response, events = send(live_url, token, conversation_id, "Hi")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert [e.event for e in events][-1] == "done"
    assert {e.event for e in events[:-1]} == {"process_step"}
    message = assert_stream_matches_stored(events)
    assert message.process_steps == [{"id": "step-0", "index": 0, "type": "text", "content": "Hello there, how can I help?"}]
    assert message.content == "Hello there, how can I help?"
    assert message.status == MessageStatus.COMPLETE
    assert message.usage["completion_tokens"] > 0
    assert message.usage["prompt_tokens"] > 0


def test_a_thinking_reply_streams_thinking_before_text(live_url: str, token: str, provider: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(thinking="Let me think about this carefully.", text="The answer is 42."))
    conversation_id = create_conversation(live_url, token, thinking_enabled=True)

    _, events = send(live_url, token, conversation_id, "What is the answer?", thinking_enabled=True)

    message = assert_stream_matches_stored(events)
    assert [(s["type"], s["content"]) for s in message.process_steps] == [
        ("thinking", "Let me think about this carefully."),
        ("text", "The answer is 42."),
    ]
    if provider.provider_type == "anthropic":
        sent = fake_llm.requests[-1].body
        assert sent["thinking"]["type"] == "enabled"
        assert sent["thinking"]["budget_tokens"] >= 1024


def test_a_tool_call_runs_and_its_result_goes_back_to_the_model(
    live_url: str, token: str, provider: Any, fake_llm: Any, test_tools: None
) -> None:
    fake_llm.script(
        Scenario(text="Let me check.", tool_calls=[ToolCall("test_weather", {"city": "Paris"}, id="call_1")]),
        Scenario(text="It is sunny in Paris."),
    )
    conversation_id = create_conversation(live_url, token)

    _, events = send(live_url, token, conversation_id, "Weather in Paris?", enabled_tools=["test_weather"])

    message = assert_stream_matches_stored(events)
    steps = message.process_steps
    assert [s["type"] for s in steps] == ["text", "tool_call", "tool_result", "text"]
    assert steps[1]["id_ref"] == "call_1"
    assert steps[1]["name"] == "test_weather"
    assert json.loads(steps[1]["arguments"]) == {"city": "Paris"}
    assert steps[2]["id_ref"] == "call_1"
    assert steps[2]["success"] is True
    assert json.loads(steps[2]["content"]) == {"city": "Paris", "forecast": "sunny", "user_id": message.user_id}
    assert steps[3]["content"] == "It is sunny in Paris."
    assert message.content == "Let me check.It is sunny in Paris."
    first, second = fake_llm.requests[-2].body, fake_llm.requests[-1].body
    assert "test_weather" in json.dumps(first["tools"])
    assert '"forecast": "sunny"' in json.dumps(second["messages"], ensure_ascii=False).replace('\\"', '"')


def test_two_parallel_tool_calls_both_run(live_url: str, token: str, provider: Any, fake_llm: Any, test_tools: None) -> None:
    fake_llm.script(
        Scenario(
            tool_calls=[ToolCall("test_weather", {"city": "Oslo"}, id="call_a"), ToolCall("test_weather", {"city": "Rome"}, id="call_b")]
        ),
        Scenario(text="Both done."),
    )
    conversation_id = create_conversation(live_url, token)

    _, events = send(live_url, token, conversation_id, "Two cities", enabled_tools=["test_weather"])

    message = assert_stream_matches_stored(events)
    steps = message.process_steps
    assert [s["type"] for s in steps] == ["tool_call", "tool_call", "tool_result", "tool_result", "text"]
    assert [s["id_ref"] for s in steps[:4]] == ["call_a", "call_b", "call_a", "call_b"]
    assert [json.loads(s["content"])["city"] for s in steps[2:4]] == ["Oslo", "Rome"]


def test_a_failing_tool_becomes_a_failed_result_not_a_crash(
    live_url: str, token: str, openai_provider: Any, fake_llm: Any, test_tools: None
) -> None:
    fake_llm.script(Scenario(tool_calls=[ToolCall("test_broken", {}, id="c1")]), Scenario(text="Sorry."))
    conversation_id = create_conversation(live_url, token)

    _, events = send(live_url, token, conversation_id, "break it", enabled_tools=["test_broken"])

    message = assert_stream_matches_stored(events)
    result = message.process_steps[1]
    assert result["type"] == "tool_result"
    assert result["success"] is False
    assert "the tool exploded" in json.loads(result["content"])["error"]
    assert message.status == MessageStatus.COMPLETE


def test_a_tool_beyond_the_users_level_yields_a_failed_result_naming_the_level(
    live_url: str, token: str, openai_provider: Any, fake_llm: Any, test_tools: None
) -> None:
    fake_llm.script(Scenario(tool_calls=[ToolCall("test_admin_only", {}, id="c1")]), Scenario(text="ok"))
    conversation_id = create_conversation(live_url, token)

    _, events = send(live_url, token, conversation_id, "injected call", enabled_tools=["test_weather"])

    message = assert_stream_matches_stored(events)
    result = message.process_steps[1]
    assert result["success"] is False
    assert "needs permission level 4 (ADMIN); you have 3 (EXECUTE)" in json.loads(result["content"])["error"]


def test_the_user_message_and_history_reach_the_model(live_url: str, token: str, openai_provider: Any, fake_llm: Any) -> None:
    conversation_id = create_conversation(live_url, token, system_prompt="You are terse.")
    send(live_url, token, conversation_id, "first question")

    send(live_url, token, conversation_id, "second question")

    messages = fake_llm.requests[-1].body["messages"]
    assert messages[0] == {"role": "system", "content": "You are terse."}
    assert [m["role"] for m in messages[1:]] == ["user", "assistant", "user"]
    assert messages[1]["content"] == "first question"
    assert messages[3]["content"] == "second question"
