"""Every model call of a chat turn leaves one usage row, priced from the price table,
written with the reply's final state."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.test import override_settings

from chat.models import Conversation, Message, MessageStatus
from fakellm import Scenario, ToolCall
from tests.support.factories import api_client_for
from usage.models import ModelPrice, UsageAccount, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)


def send(user: Any, conversation: Conversation, content: str, **extra: Any) -> Any:
    return api_client_for(user).post("/api/messages/", {"conversation_id": conversation.pk, "content": content, **extra}, format="json")


def test_a_chat_turn_records_one_priced_row(user: Any, provider: Any, fake_llm: Any) -> None:
    # given a price for the model and a reply with reported usage
    ModelPrice.objects.create(provider=provider, model="fake-model", input_per_million=Decimal("2"), output_per_million=Decimal("10"))
    conversation = Conversation.objects.create(user=user, provider=provider, model="fake-model")
    fake_llm.script(Scenario(text="hello there"), match="hi?")
    # when
    response = send(user, conversation, "hi?")
    # then
    assert response.status_code == 200, response.content
    reply = Message.objects.get(pk=response.json()["data"]["assistant_message"]["id"])
    row = UsageRecord.objects.get()
    assert (row.user_id, row.provider_id, row.model, row.kind) == (user.pk, provider.pk, "fake-model", "chat")
    assert (row.conversation_id, row.message_id, row.room_id) == (conversation.pk, reply.pk, None)
    assert row.prompt_tokens == reply.usage["prompt_tokens"] > 0
    assert row.completion_tokens == reply.usage["completion_tokens"] > 0
    assert row.cost_micros == row.prompt_tokens * 2 + row.completion_tokens * 10
    assert row.priced and not row.estimated
    # and the day's counter holds what was used, the reservation settled
    account = UsageAccount.objects.get(user=user)
    assert account.day_tokens == account.month_tokens == row.total_tokens
    assert account.day_cost_micros == row.cost_micros
    assert account.active_streams == 0


def test_an_unknown_model_costs_nothing_and_is_flagged(user: Any, openai_provider: Any, fake_llm: Any) -> None:
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    assert send(user, conversation, "hi").status_code == 200
    row = UsageRecord.objects.get()
    assert row.cost_micros == 0
    assert not row.priced


def test_cached_input_is_priced_at_the_cached_price(user: Any, openai_provider: Any, fake_llm: Any) -> None:
    ModelPrice.objects.create(
        provider=openai_provider,
        model="fake-model",
        input_per_million=Decimal("3"),
        output_per_million=Decimal("15"),
        cached_input_per_million=Decimal("0.5"),
    )
    usage: Any = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100, "prompt_tokens_details": {"cached_tokens": 800}}
    fake_llm.script(Scenario(text="ok", usage=usage), match="cached?")
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    assert send(user, conversation, "cached?").status_code == 200
    row = UsageRecord.objects.get()
    assert (row.prompt_tokens, row.completion_tokens, row.cached_tokens) == (1000, 100, 800)
    assert row.cost_micros == 200 * 3 + 800 // 2 + 100 * 15


def test_a_tool_loop_records_one_row_per_model_call(user: Any, openai_provider: Any, fake_llm: Any, test_tools: None) -> None:
    fake_llm.script(Scenario(tool_calls=[ToolCall("test_weather", {"city": "Oslo"})]), Scenario(text="Sunny in Oslo."))
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    response = send(user, conversation, "weather?", enabled_tools=["test_weather"])
    assert response.status_code == 200, response.content
    rows = list(UsageRecord.objects.order_by("id"))
    assert [r.kind for r in rows] == ["chat", "tool_loop"]
    reply = Message.objects.get(pk=response.json()["data"]["assistant_message"]["id"])
    assert sum(r.total_tokens for r in rows) == reply.token_count


@override_settings(LUXX_LLM_MAX_RETRIES=0)
def test_a_failed_turn_releases_its_stream(user: Any, openai_provider: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(fault="500"))
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    assert send(user, conversation, "boom").status_code == 502
    assert Message.objects.get(role="assistant").status == MessageStatus.ERROR
    assert UsageAccount.objects.get(user=user).active_streams == 0


def test_a_stopped_reply_records_what_it_produced(live_url: str, user: Any, token: str, openai_provider: Any, fake_llm: Any) -> None:
    # given a long reply, stopped after a few pieces
    ModelPrice.objects.create(provider=openai_provider, model="fake-model", output_per_million=Decimal(1))
    fake_llm.script(Scenario(tokens=500, tokens_per_second=100))
    conversation = Conversation.objects.create(user=user, provider=openai_provider, model="fake-model")
    headers = {"Authorization": f"Bearer {token}"}
    received, stopped = "", False
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST", f"{live_url}/api/messages/stream", json={"conversation_id": conversation.pk, "content": "long"}, headers=headers
        ) as r,
    ):
        for chunk in r.iter_text():
            received += chunk
            if received.count("process_step") >= 3 and not stopped:
                reply = Message.objects.get(role="assistant", conversation=conversation)
                stopped = httpx.post(f"{live_url}/api/messages/{reply.pk}/stop", headers=headers).status_code == 200
    # then the reply and its usage row say what was produced, as an estimate
    assert stopped
    reply = Message.objects.get(role="assistant", conversation=conversation)
    assert reply.status == MessageStatus.STOPPED
    row = UsageRecord.objects.get()
    assert row.estimated
    assert row.completion_tokens > 0 and row.prompt_tokens > 0
    assert row.completion_tokens + row.prompt_tokens == reply.token_count
    assert row.cost_micros == row.completion_tokens
    assert UsageAccount.objects.get(user=user).active_streams == 0
