"""A provider's failure reaches the user in the user's language."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chat.models import Message
from fakellm import Scenario
from tests.chat.test_stream import create_conversation
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_upstream_error_is_told_in_the_callers_language(live_url: str, token: str, openai_provider: Any, fake_llm: Any) -> None:
    # Given a provider that fails every attempt
    fake_llm.script(*[Scenario(fault="500")] * 5)
    conversation_id = create_conversation(live_url, token)

    # When a caller whose language is Chinese sends a message
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "zh-Hans"}
    body = {"conversation_id": conversation_id, "content": "你好"}
    with httpx.stream("POST", f"{live_url}/api/messages/stream", json=body, headers=headers, timeout=30) as response:
        events = parse_sse(response.read().decode())

    # Then the error event and the stored reply say what happened in Chinese
    assert [e.event for e in events] == ["retrying", "retrying", "error"]
    assert events[0].data["reason"] == "HTTP 500：提供方内部出错（Scripted fault 500.）。"
    assert events[-1].data["content"] == "HTTP 500：提供方内部出错（Scripted fault 500.）。"
    assert Message.objects.get(pk=events[-1].data["message_id"]).error == events[-1].data["content"]
