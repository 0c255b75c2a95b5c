"""Upstream faults, disconnects and stops: the stream ends cleanly and nothing is lost."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from django.test import override_settings

from chat.models import Message, MessageStatus
from fakellm import Scenario
from tests.chat.test_stream import create_conversation, send
from tests.support.sse import parse_sse, rebuild_steps

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for_status(message_filter: dict[str, Any], status: str, timeout: float = 10) -> Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = Message.objects.filter(role="assistant", **message_filter).order_by("-created_at").first()
        if message is not None and message.status == status:
            return message
        time.sleep(0.05)
    raise AssertionError(f"no assistant message reached status {status}; last: {message and message.status}")


def test_an_upstream_500_ends_the_stream_with_an_error_event(live_url: str, token: str, provider: Any, fake_llm: Any) -> None:
    fake_llm.script(*[Scenario(fault="500")] * 5)
    conversation_id = create_conversation(live_url, token)

    response, events = send(live_url, token, conversation_id, "hello")

    assert response.status_code == 200
    # two retries announced before the first token, then the error
    assert [e.event for e in events] == ["retrying", "retrying", "error"]
    assert [(e.data["attempt"], e.data["max_attempts"]) for e in events[:2]] == [(2, 3), (3, 3)]
    assert all("HTTP 500" in e.data["reason"] for e in events[:2])
    assert "HTTP 500" in events[-1].data["content"]
    message = Message.objects.get(pk=events[-1].data["message_id"])
    assert message.status == MessageStatus.ERROR
    assert message.error == events[-1].data["content"]
    assert Message.objects.filter(conversation_id=conversation_id, role="user", content="hello").exists()


def test_a_429_then_success_gives_a_normal_reply(live_url: str, token: str, provider: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(fault="429"), Scenario(text="Recovered fine."))
    conversation_id = create_conversation(live_url, token)

    _, events = send(live_url, token, conversation_id, "hello")

    assert events[-1].event == "done"
    assert Message.objects.get(pk=events[-1].data["message_id"]).content == "Recovered fine."
    assert len(fake_llm.requests) == 2


def test_a_dropped_stream_keeps_the_tokens_already_received(live_url: str, token: str, provider: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(text="one two three four five six", fault="drop_after:3"))
    conversation_id = create_conversation(live_url, token)

    _, events = send(live_url, token, conversation_id, "hello")

    assert events[-1].event == "error"
    assert "dropped" in events[-1].data["content"] or "connection" in events[-1].data["content"].lower()
    streamed = "".join(s["content"] for s in rebuild_steps(events) if s["type"] == "text")
    assert streamed == "one two three "
    message = Message.objects.get(pk=events[-1].data["message_id"])
    assert message.status == MessageStatus.ERROR
    assert message.content == "one two three "


@override_settings(LUXX_LLM_FIRST_TOKEN_TIMEOUT=1.0, LUXX_LLM_IDLE_TIMEOUT=1.0, LUXX_LLM_MAX_RETRIES=0)
def test_a_hanging_provider_times_out_with_an_error(live_url: str, token: str, provider: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(fault="hang"))
    conversation_id = create_conversation(live_url, token)
    started = time.monotonic()

    _, events = send(live_url, token, conversation_id, "hello")

    assert time.monotonic() - started < 8
    assert [e.event for e in events] == ["error"]
    assert "timed out" in events[0].data["content"] or "did not start answering" in events[0].data["content"]
    assert Message.objects.get(pk=events[0].data["message_id"]).status == MessageStatus.ERROR


def _read_then_disconnect(live_url: str, token: str, conversation_id: str, pieces: int) -> str:
    body = {"conversation_id": conversation_id, "content": "long please"}
    received = ""
    with (
        httpx.Client() as client,
        client.stream("POST", f"{live_url}/api/messages/stream", json=body, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        for chunk in response.iter_text():
            received += chunk
            if received.count("process_step") >= pieces:
                break
    return received


def test_a_reply_goes_on_to_its_end_after_its_client_disconnects(live_url: str, token: str, openai_provider: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(tokens=300, tokens_per_second=200))
    conversation_id = create_conversation(live_url, token)

    received = _read_then_disconnect(live_url, token, conversation_id, 5)

    message = wait_for_status({"conversation_id": conversation_id}, MessageStatus.COMPLETE, timeout=30)
    assert message.content.startswith("".join(s["content"] for s in rebuild_steps(parse_sse(received.rsplit("\n\n", 1)[0] + "\n\n"))))
    assert len(message.content.split()) == 300
    assert message.usage["total_tokens"] > 0


@override_settings(LUXX_STOP_ON_DISCONNECT=True)
def test_with_stop_on_disconnect_a_client_disconnect_saves_the_partial_reply_as_interrupted(
    live_url: str, token: str, openai_provider: Any, fake_llm: Any
) -> None:
    fake_llm.script(Scenario(tokens=400, tokens_per_second=100))
    conversation_id = create_conversation(live_url, token)

    received = _read_then_disconnect(live_url, token, conversation_id, 5)

    message = wait_for_status({"conversation_id": conversation_id}, MessageStatus.INTERRUPTED)
    text = message.content
    assert text
    assert text.startswith("".join(s["content"] for s in rebuild_steps(parse_sse(received.rsplit("\n\n", 1)[0] + "\n\n"))))
    assert len(text.split()) < 400


def test_stop_from_a_second_request_ends_the_stream_as_stopped(live_url: str, token: str, openai_provider: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(tokens=500, tokens_per_second=100))
    conversation_id = create_conversation(live_url, token)
    body = {"conversation_id": conversation_id, "content": "long please"}
    headers = {"Authorization": f"Bearer {token}"}

    received = ""
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{live_url}/api/messages/stream", json=body, headers=headers) as response,
    ):
        stop_sent = False
        for chunk in response.iter_text():
            received += chunk
            if not stop_sent and received.count("process_step") >= 3:
                message = wait_for_status({"conversation_id": conversation_id}, MessageStatus.STREAMING)
                stop = httpx.post(f"{live_url}/api/messages/{message.pk}/stop", headers=headers)
                assert stop.status_code == 200, stop.text
                assert stop.json()["data"] == {"message_id": message.pk, "status": "stopping"}
                stop_sent = True

    events = parse_sse(received)
    assert events[-1].event == "done"
    assert events[-1].data["status"] == "stopped"
    stored = Message.objects.get(pk=events[-1].data["message_id"])
    assert stored.status == MessageStatus.STOPPED
    assert stored.process_steps == rebuild_steps(events)
    assert 0 < len(stored.content.split()) < 500


def test_stopping_a_message_that_is_not_streaming_is_a_conflict(live_url: str, token: str, openai_provider: Any, fake_llm: Any) -> None:
    conversation_id = create_conversation(live_url, token)
    _, events = send(live_url, token, conversation_id, "hi")

    response = httpx.post(f"{live_url}/api/messages/{events[-1].data['message_id']}/stop", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 409
    assert response.json() == {"success": False, "message": "The message is not being generated (status complete)."}
