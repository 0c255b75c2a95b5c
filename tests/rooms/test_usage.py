"""A room's turns are recorded in the usage ledger, and its owner's limits hold."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from chat.models import Message, MessageStatus
from fakellm import Scenario
from tests.rooms.test_runs import auth, make_room, owner, wait_for_status
from usage.models import ModelPrice, UsageAccount, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["owner"]


def _start(live_url: str, room: Any, user: Any) -> None:
    import httpx

    response = httpx.post(f"{live_url}/api/chat-rooms/{room.pk}/start", headers=auth(user, Accept="text/event-stream"), timeout=30)
    assert response.status_code == 200, response.text


def test_each_room_turn_records_a_room_row(live_url: str, owner: Any, fake_llm: Any) -> None:
    provider = owner.providers.get()
    ModelPrice.objects.create(provider=provider, model="fake-model", input_per_million=Decimal(1), output_per_million=Decimal(2))
    fake_llm.script(*[Scenario(tokens=5)] * 2)
    room = make_room(owner, ("Ada", "Bo"))
    _start(live_url, room, owner)
    wait_for_status(room.pk, "completed")
    rows = list(UsageRecord.objects.order_by("id"))
    turns = list(Message.objects.filter(room=room, role="assistant").order_by("created_at"))
    assert [(r.kind, r.room_id, r.message_id) for r in rows] == [("room", room.pk, t.pk) for t in turns]
    assert all(r.cost_micros == r.prompt_tokens + 2 * r.completion_tokens > 0 for r in rows)
    assert UsageAccount.objects.get(user=owner).day_tokens == sum(r.total_tokens for r in rows)


def test_a_room_turn_over_the_owners_limit_fails_with_the_limit(live_url: str, owner: Any, fake_llm: Any) -> None:
    UsageAccount.objects.create(user=owner, tokens_per_day=0)
    room = make_room(owner, ("Ada",))
    _start(live_url, room, owner)
    wait_for_status(room.pk, "completed")
    turn = Message.objects.get(room=room, role="assistant")
    assert turn.status == MessageStatus.ERROR
    assert turn.error.startswith("Daily token limit reached: 0 tokens a day.")
    assert not UsageRecord.objects.exists()
