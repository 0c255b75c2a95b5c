"""Limits hold under concurrent requests: exactly the allowed number of turns start."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from chat.models import Conversation, Message
from fakellm import Scenario
from tests.support.factories import access_token_for, make_admin
from tests.support.sse import parse_sse
from usage.models import LevelLimit, ModelPrice, UsageAccount

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS = 6


def _fire(live_url: str, token: str, conversations: list[Conversation], content: str = "q") -> list[httpx.Response]:
    """One streaming request per conversation, all at once; each answer read whole."""

    async def one(client: httpx.AsyncClient, conversation: Conversation) -> httpx.Response:
        body = {"conversation_id": conversation.pk, "content": content}
        response = await client.post(f"{live_url}/api/messages/stream", json=body, headers={"Authorization": f"Bearer {token}"})
        return response

    async def run_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=REQUESTS)) as client:
            return await asyncio.gather(*(one(client, c) for c in conversations))

    return asyncio.run(run_all())


def _conversations(user: Any, provider: Any, n: int = REQUESTS, **extra: Any) -> list[Conversation]:
    return [Conversation.objects.create(user=user, provider=provider, model="fake-model", **extra) for _ in range(n)]


def _statuses(responses: list[httpx.Response]) -> list[int]:
    return sorted(r.status_code for r in responses)


def test_concurrent_streams_beyond_the_limit_are_refused(live_url: str, user: Any, token: str, openai_provider: Any, fake_llm: Any) -> None:
    # given at most 2 streams at once, and slow replies that stay open while the others arrive
    UsageAccount.objects.create(user=user, concurrent_streams=2)
    fake_llm.script(*[Scenario(tokens=30, tokens_per_second=10)] * REQUESTS)
    # when 6 start at once
    responses = _fire(live_url, token, _conversations(user, openai_provider))
    # then exactly 2 streamed, the others were told why
    assert _statuses(responses) == [200, 200, 429, 429, 429, 429]
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json() == {
        "success": False,
        "message": "Too many replies at once: at most 2 at a time. Try again when one has finished.",
    }
    assert refused.headers["Retry-After"] == "5"
    for ok in (r for r in responses if r.status_code == 200):
        assert parse_sse(ok.text)[-1].event == "done"
    # and nothing of the refused turns was kept; the streams were given back
    assert Message.objects.filter(role="assistant").count() == 2
    assert Message.objects.filter(role="user").count() == 2
    assert UsageAccount.objects.get(user=user).active_streams == 0


def test_requests_per_minute_beyond_the_limit_are_refused(
    live_url: str, user: Any, token: str, openai_provider: Any, fake_llm: Any
) -> None:
    if time.time() % 60 > 50:  # the requests must fall into one minute
        time.sleep(60 - time.time() % 60 + 0.1)
    LevelLimit.objects.create(permission_level=user.permission_level, requests_per_minute=3)
    responses = _fire(live_url, token, _conversations(user, openai_provider))
    assert _statuses(responses) == [200, 200, 200, 429, 429, 429]
    message = next(r for r in responses if r.status_code == 429).json()["message"]
    assert message.startswith("Too many chat requests: at most 3 a minute. Try again in ")
    # a user's own limit replaces the level's
    UsageAccount.objects.filter(user=user).update(requests_per_minute=100)
    assert _statuses(_fire(live_url, token, _conversations(user, openai_provider, 2))) == [200, 200]


def test_daily_tokens_admit_turns_while_under_the_limit(live_url: str, user: Any, token: str, openai_provider: Any, fake_llm: Any) -> None:
    # given turns that each reserve their prompt (a few tokens) and their 1000 tokens of output
    UsageAccount.objects.create(user=user, tokens_per_day=1500)
    fake_llm.script(*[Scenario(tokens=5, tokens_per_second=2)] * REQUESTS)
    # when 6 start at once: the first two reserve more than 1500 together
    responses = _fire(live_url, token, _conversations(user, openai_provider, max_tokens=1000))
    assert _statuses(responses) == [200, 200, 429, 429, 429, 429]
    message = next(r for r in responses if r.status_code == 429).json()["message"]
    assert message.startswith("Daily token limit reached: 1,500 tokens a day. It resets at ")
    assert message.endswith(" 00:00 UTC.")
    # then the finished turns keep only what they used, so another turn fits again
    used = UsageAccount.objects.get(user=user).day_tokens
    assert 0 < used < 200
    assert _statuses(_fire(live_url, token, _conversations(user, openai_provider, 1, max_tokens=1000))) == [200]


def test_monthly_cost_admits_turns_while_under_the_limit(live_url: str, user: Any, token: str, openai_provider: Any, fake_llm: Any) -> None:
    # given output at 1 per million tokens: 1000 tokens of output reserve 0.001
    ModelPrice.objects.create(provider=openai_provider, model="fake-model", output_per_million=Decimal(1))
    UsageAccount.objects.create(user=user, cost_per_month=Decimal("0.0015"))
    fake_llm.script(*[Scenario(tokens=5, tokens_per_second=2)] * REQUESTS)
    responses = _fire(live_url, token, _conversations(user, openai_provider, max_tokens=1000))
    assert _statuses(responses) == [200, 200, 429, 429, 429, 429]
    message = next(r for r in responses if r.status_code == 429).json()["message"]
    assert message.startswith("Monthly cost limit reached: 0.00 USD a month. It resets at ")
    account = UsageAccount.objects.get(user=user)
    assert account.month_cost_micros == 10  # 5 tokens each, at 1 micro-unit a token


def test_admins_are_exempt_unless_configured(live_url: str, openai_provider: Any, fake_llm: Any) -> None:
    admin = make_admin()
    openai_provider.user = admin
    openai_provider.save()
    LevelLimit.objects.create(permission_level=3, concurrent_streams=0)
    assert _statuses(_fire(live_url, access_token_for(admin), _conversations(admin, openai_provider, 2))) == [200, 200]
    LevelLimit.objects.create(permission_level=4, tokens_per_day=0)
    assert _statuses(_fire(live_url, access_token_for(admin), _conversations(admin, openai_provider, 1))) == [429]


def test_the_refusal_wears_each_dialect_and_the_callers_language(live_url: str, user: Any, token: str, openai_provider: Any) -> None:
    UsageAccount.objects.create(user=user, tokens_per_day=0)
    conversation = _conversations(user, openai_provider, 1)[0]
    headers = {"Authorization": f"Bearer {token}"}
    v1 = httpx.post(f"{live_url}/api/v1/conversations/{conversation.pk}/messages", json={"content": "hi"}, headers=headers)
    assert v1.status_code == 429
    body = v1.json()
    assert body["code"] == 42900 and body["data"] is None
    assert body["message"].startswith("Daily token limit reached: 0 tokens a day.")
    zh = httpx.post(
        f"{live_url}/api/messages/stream",
        json={"conversation_id": conversation.pk, "content": "你好"},
        headers={**headers, "Accept-Language": "zh-Hans"},
    )
    assert zh.status_code == 429
    assert zh.json()["message"].startswith("已达到每日 token 上限：每天 0 个 token。将于 ")
    assert int(zh.headers["Retry-After"]) > 0
