"""A room's model calls (turns, the selector's, the closing summary) are recorded in the
usage ledger, and its owner's limits hold for every one of them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.utils import timezone

from chat.models import Message
from fakellm import Scenario
from luxx.text import estimate_tokens
from rooms.models import ChatRoom
from tests.rooms.test_runs import auth, make_room, owner, wait_for_status
from tests.rooms.test_team import SELECT, create, of, start
from tests.support.sse import SSEEvent, parse_sse
from usage.limits import turn_admit
from usage.models import ModelPrice, UsageAccount, UsageRecord
from usage.services import reservation_data

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["owner"]

PER_TOKEN = Decimal(1_000_000)  # a price per million tokens of 1 per token


def _start(live_url: str, room: Any, user: Any) -> list[SSEEvent]:
    response = httpx.post(f"{live_url}/api/chat-rooms/{room.pk}/start", headers=auth(user, Accept="text/event-stream"), timeout=30)
    assert response.status_code == 200, response.text
    return parse_sse(response.text)


def _price(user: Any, model: str = "fake-model", output: Decimal = Decimal(2)) -> None:
    ModelPrice.objects.create(provider=user.providers.get(), model=model, input_per_million=Decimal(1), output_per_million=output)


def _settled(user: Any) -> None:
    """The owner's counters hold exactly what the rows used: every reservation settled."""
    account = UsageAccount.objects.get(user=user)
    rows = UsageRecord.objects.filter(user=user)
    assert (account.day_tokens, account.day_cost_micros) == (sum(r.total_tokens for r in rows), sum(r.cost_micros for r in rows))
    assert account.active_streams == 0


def test_each_room_turn_records_a_room_row(live_url: str, owner: Any, fake_llm: Any) -> None:
    _price(owner)
    fake_llm.script(*[Scenario(tokens=5)] * 2)
    room = make_room(owner, ("Ada", "Bo"))
    _start(live_url, room, owner)
    wait_for_status(room.pk, "completed")
    rows = list(UsageRecord.objects.order_by("id"))
    turns = list(Message.objects.filter(room=room, role="assistant").order_by("created_at"))
    assert [(r.kind, r.room_id, r.message_id) for r in rows] == [("room", room.pk, t.pk) for t in turns]
    assert all(r.cost_micros == r.prompt_tokens + 2 * r.completion_tokens > 0 for r in rows)
    _settled(owner)


def test_each_selector_call_records_a_selector_row(live_url: str, owner: Any, fake_llm: Any) -> None:
    # given a selector room whose selector is a model of its own, priced
    _price(owner)
    _price(owner, "judge", output=Decimal(3))
    fake_llm.script(
        Scenario(text="Bo", usage={"prompt_tokens": 40, "completion_tokens": 1}),
        Scenario(text="Ada", usage={"prompt_tokens": 50, "completion_tokens": 1}),
        match=SELECT,
    )
    fake_llm.script(*[Scenario(tokens=5, usage={"prompt_tokens": 20, "completion_tokens": 5})] * 2)
    room_id = create(live_url, owner, ("Ada", "Bo"), rounds=1, speaker_policy="selector", selector_model="judge")
    # when it runs its round
    events = start(live_url, owner, room_id)
    assert events[-1].event == "room_completed"
    # then each selector call and each turn has its row, in the order they were made
    rows = list(
        UsageRecord.objects.order_by("created_at", "id").values_list("kind", "model", "prompt_tokens", "completion_tokens", "cost_micros")
    )
    assert rows == [
        ("selector", "judge", 40, 1, 43),
        ("room", "fake-model", 20, 5, 30),
        ("selector", "judge", 50, 1, 53),
        ("room", "fake-model", 20, 5, 30),
    ]
    selector_rows = UsageRecord.objects.filter(kind="selector")
    assert {(r.user_id, r.room_id, r.message_id, r.provider_id) for r in selector_rows} == {
        (owner.pk, room_id, None, owner.providers.get().pk)
    }
    _settled(owner)


def test_the_closing_summary_records_one_summary_row(live_url: str, owner: Any, fake_llm: Any) -> None:
    # given a room with a summarizer
    _price(owner)
    fake_llm.script(*[Scenario(tokens=5)] * 3)
    room_id = create(live_url, owner, ("Ada", "Bo"), rounds=1, summarizer="Bo")
    # when it runs to its end
    events = start(live_url, owner, room_id)
    # then its two turns and the summary are recorded once each, the summary as such
    summary_id = of(events, "summary")[0]["message_id"]
    rows = list(UsageRecord.objects.order_by("created_at", "id"))
    turns = list(Message.objects.filter(room_id=room_id, role="assistant").order_by("created_at", "id"))
    assert [(r.kind, r.message_id) for r in rows] == [("room", turns[0].pk), ("room", turns[1].pk), ("summary", summary_id)]
    assert ChatRoom.objects.get(pk=room_id).summary_message_id == summary_id == turns[2].pk
    _settled(owner)


def test_starting_a_room_over_the_owners_limit_is_refused_as_a_chat_request_is(live_url: str, owner: Any, fake_llm: Any) -> None:
    # given an owner whose daily tokens are used up
    UsageAccount.objects.create(user=owner, tokens_per_day=0)
    room = make_room(owner, ("Ada",))
    # when they start a room
    response = httpx.post(f"{live_url}/api/chat-rooms/{room.pk}/start", headers=auth(owner, Accept="text/event-stream"), timeout=30)
    # then it is the 429 of a chat request, and nothing ran
    assert response.status_code == 429
    body = response.json()
    assert body["success"] is False and body["message"].startswith("Daily token limit reached: 0 tokens a day. It resets at ")
    assert int(response.headers["Retry-After"]) > 0
    assert ChatRoom.objects.get(pk=room.pk).status == "idle"
    assert not Message.objects.filter(room=room).exists()
    assert fake_llm.requests == []


def test_a_turn_over_the_owners_limit_ends_the_run_without_calling_the_model(live_url: str, owner: Any, fake_llm: Any) -> None:
    # given a daily token limit the first turn uses up, in a room with a summarizer
    UsageAccount.objects.create(user=owner, tokens_per_day=10)
    fake_llm.script(*[Scenario(tokens=5, usage={"prompt_tokens": 20, "completion_tokens": 5})] * 3)
    room_id = create(live_url, owner, ("Ada", "Bo"), rounds=2, summarizer="Ada")
    # when it runs
    events = start(live_url, owner, room_id)
    # then Bo's turn is never asked of the model, nor the summary: the run ends saying why
    assert len(fake_llm.requests) == 1
    assert [m.sender_name for m in Message.objects.filter(room_id=room_id, role="assistant")] == ["Ada"]
    end = events[-1].data
    assert (end["type"], end["reason"], end["summary_message_id"]) == ("room_completed", "usage_limit", None)
    assert end["message"].startswith("Daily token limit reached: 10 tokens a day. It resets at ")
    room = ChatRoom.objects.get(pk=room_id)
    assert (room.status, room.end_reason, room.summary_message_id) == ("completed", "usage_limit", "")
    assert [r.kind for r in UsageRecord.objects.all()] == ["room"]
    _settled(owner)


def test_a_plain_room_ends_on_the_limit_too(live_url: str, owner: Any, fake_llm: Any) -> None:
    UsageAccount.objects.create(user=owner, tokens_per_day=10)
    fake_llm.script(*[Scenario(tokens=5, usage={"prompt_tokens": 20, "completion_tokens": 5})] * 3)
    room = make_room(owner, ("Ada", "Bo", "Cy"))
    events = _start(live_url, room, owner)
    assert len(fake_llm.requests) == 1
    assert (events[-1].event, events[-1].data["reason"]) == ("room_completed", "usage_limit")
    assert ChatRoom.objects.get(pk=room.pk).end_reason == "usage_limit"


def test_a_selector_call_over_the_limit_ends_the_run(live_url: str, owner: Any, fake_llm: Any) -> None:
    # given a cost limit: the selector's model costs nothing, the agents' costs 1 per token
    _price(owner, output=PER_TOKEN)
    UsageAccount.objects.create(user=owner, cost_per_day=Decimal("0.0001"))
    fake_llm.script(Scenario(text="Ada"), Scenario(text="Bo"), match=SELECT)
    fake_llm.script(Scenario(tokens=5))
    room_id = create(live_url, owner, ("Ada", "Bo"), rounds=1, speaker_policy="selector", selector_model="judge")
    # when it runs: the selector, Ada's turn (over the limit now), then the selector again
    events = start(live_url, owner, room_id)
    # then the second selector call is refused before the model is asked
    assert len(fake_llm.requests) == 2
    assert [e.data["agent"] for e in events if e.event == "speaker_selected"] == ["Ada"]
    assert (events[-1].data["reason"], events[-1].data["message"][:24]) == ("usage_limit", "Daily cost limit reached")
    assert [r.kind for r in UsageRecord.objects.order_by("created_at", "id")] == ["selector", "room"]
    _settled(owner)


def test_a_turn_cut_by_a_crash_records_what_it_produced_and_frees_what_it_reserved(live_url: str, owner: Any, fake_llm: Any) -> None:
    # given a room whose process died in Bo's turn, which had reserved its maximum output
    room = make_room(owner, ("Ada", "Bo"))
    Message.objects.create(user=owner, room=room, role="user", content="Plan it", sender_name="User", round_number=0)
    ada, bo = room.agents.get(name="Ada"), room.agents.get(name="Bo")
    Message.objects.create(user=owner, room=room, role="assistant", content="Ada here.", sender_name="Ada", round_number=1, room_agent=ada)
    reservation = turn_admit(user=owner, tokens=3000, cost_micros=0, stream=False)
    cut = Message.objects.create(
        user=owner,
        room=room,
        role="assistant",
        content="Bo half way",
        status="streaming",
        sender_name="Bo",
        round_number=1,
        room_agent=bo,
        model="fake-model",
        usage_reserved=reservation_data(reservation, provider_id=owner.providers.get().pk, prompt_tokens=40),
    )
    ChatRoom.objects.filter(pk=room.pk).update(
        status="running", current_round=1, next_turn_index=1, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    fake_llm.script(Scenario(text="Bo again.", usage={"prompt_tokens": 30, "completion_tokens": 3}))
    # when it is started again: Bo speaks the turn again
    _start(live_url, room, owner)
    wait_for_status(room.pk, "completed")
    # then the cut turn is recorded as the estimate of what it produced, the new one as used
    again = Message.objects.get(room=room, sender_name="Bo", status="complete")
    rows = list(
        UsageRecord.objects.order_by("created_at", "id").values_list(
            "kind", "message_id", "prompt_tokens", "completion_tokens", "estimated"
        )
    )
    assert rows == [("room", cut.pk, 40, estimate_tokens("Bo half way"), True), ("room", again.pk, 30, 3, False)]
    assert Message.objects.get(pk=cut.pk).status == "interrupted"
    # and the counters hold what was used, not the 3000 tokens reserved
    _settled(owner)
