"""Chat rooms end to end over a real ASGI server, through the real SDKs, against the fake LLM."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from agents.models import Agent, Provider
from chat.models import Message
from fakellm import Scenario
from rooms.models import ChatRoom
from rooms.orchestrator import NO_PROVIDER
from tests.chat.conftest import make_provider
from tests.support.factories import access_token_for, api_client_for, make_user
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)

SEED_FIELDS = {
    "room_started": {"type", "room_id", "task"},
    "round_start": {"type", "round", "max_rounds"},
    "message_start": {"type", "id", "room_id", "role", "sender_name", "sender_color", "round_number"},
    "message_chunk": {"type", "id", "content", "accumulated"},
    "message_end": {"type", "id", "content", "token_count"},
    "message": {"type", "id", "conversation_id", "room_id", "role", "content", "text", "sender_name", "sender_color", "round_number"},
    "round_end": {"type", "round"},
    "room_completed": {"type", "room_id", "total_rounds"},
    "room_paused": {"type", "room_id", "round"},
    "agent_error": {"type", "agent", "error", "message_id"},
}


@pytest.fixture
def owner(fake_llm: Any) -> Any:
    user = make_user()
    user.provider = make_provider(user, fake_llm)
    return user


def headers(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token_for(user)}"}


def create_room(url: str, user: Any, agents: list[dict[str, Any]], rounds: int = 2, task: str = "Plan the launch") -> str:
    response = httpx.post(
        f"{url}/api/chat-rooms/", json={"title": "Launch", "task": task, "max_rounds": rounds, "agents": agents}, headers=headers(user)
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


def start(url: str, user: Any, room_id: str, on_event: Callable[[Any], None] | None = None) -> list[Any]:
    """Start a room and read its stream to the end; ``on_event`` sees each event as it comes."""
    events: list[Any] = []
    with httpx.stream("POST", f"{url}/api/chat-rooms/{room_id}/start", headers=headers(user), timeout=60) as response:
        assert response.status_code == 200, response.read()
        buffer = ""
        for text in response.iter_text():
            buffer += text
            *frames, buffer = buffer.split("\n\n")
            for event in parse_sse("\n\n".join(frames)):
                events.append(event)
                if on_event:
                    on_event(event)
    return events


THREE = [
    {"name": "Ada", "role": "architect", "color": "#10b981", "model": "fake-model"},
    {"name": "Bo", "role": "tester", "color": "#f59e0b", "model": "fake-model"},
    {"name": "Cy", "role": "writer", "color": "#2563eb", "model": "fake-model"},
]


def test_three_agents_two_rounds_stream_the_seed_events_and_store_them(live_url: str, owner: Any, fake_llm: Any) -> None:
    for round_number in (1, 2):
        for name in ("Ada", "Bo", "Cy"):
            fake_llm.script(Scenario(text=f"{name} says round {round_number}.", tokens_per_second=25))
    room_id = create_room(live_url, owner, THREE)
    along_the_way: list[tuple[str, str, int, int]] = []

    def snapshot(event: Any) -> None:
        if event.event in ("round_start", "message_start"):
            room = ChatRoom.objects.get(pk=room_id)
            along_the_way.append((event.event, room.status, room.current_round, room.next_turn_index))

    events = start(live_url, owner, room_id, on_event=snapshot)

    # (A turn's text comes in one chunk per network read of the model's stream: usually one
    # per token at this pace, fewer when reads fall behind.)
    kinds = re.sub(r"(message_chunk )+", "message_chunk ", " ".join(e.event for e in events) + " ").split()
    turn = ["message_start", "message_chunk", "message_end", "message"]
    expected = ["room_started"] + (["round_start"] + turn * 3 + ["round_end"]) * 2 + ["room_completed"]
    assert kinds == expected
    for event in events:
        assert set(event.data) == SEED_FIELDS[event.event], event.event
        assert event.data["type"] == event.event
    assert events[0].data == {"type": "room_started", "room_id": room_id, "task": "Plan the launch"}
    assert events[-1].data == {"type": "room_completed", "room_id": room_id, "total_rounds": 2}
    finals = [e.data for e in events if e.event == "message"]
    assert [(m["sender_name"], m["round_number"], m["content"]) for m in finals] == [
        (name, r, f"{name} says round {r}.") for r in (1, 2) for name in ("Ada", "Bo", "Cy")
    ]
    first_turn = finals[0]["id"]
    chunks = [e.data for e in events if e.event == "message_chunk" and e.data["id"] == first_turn]
    grown = ""
    for chunk in chunks:
        grown += chunk["content"]
        assert chunk["accumulated"] == grown
    assert grown == "Ada says round 1."
    stored = list(Message.objects.filter(room_id=room_id, role="assistant").order_by("created_at"))
    assert [(m.id, m.content, m.sender_color, m.status) for m in stored] == [
        (m["id"], m["content"], m["sender_color"], "complete") for m in finals
    ]
    room = ChatRoom.objects.get(pk=room_id)
    assert (room.status, room.current_round) == ("completed", 2)
    # Each turn is paced to last a while, so the saved progress is still the turn's own.
    assert along_the_way == [
        (kind, "running", r, index)
        for r in (1, 2)
        for kind, index in (("round_start", 0), ("message_start", 0), ("message_start", 1), ("message_start", 2))
    ]
    cy_round_two = fake_llm.requests[5].body["messages"]
    assert "Plan the launch" in cy_round_two[1]["content"]
    assert {"role": "user", "content": "[Ada]: Ada says round 1."} in cy_round_two
    assert {"role": "assistant", "content": "Cy says round 1."} in cy_round_two
    assert {"role": "user", "content": "[Bo]: Bo says round 2."} in cy_round_two
    listed = httpx.get(f"{live_url}/api/chat-rooms/{room_id}/messages", headers=headers(owner)).json()["data"]
    assert listed["messages"][0]["role"] == "user" and listed["messages"][0]["text"] == "Plan the launch"
    assert listed["room"]["message_count"] == 7


def test_a_failing_agent_yields_agent_error_and_the_room_goes_on(live_url: str, owner: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(text="Ada speaks."), *[Scenario(fault="500")] * 3, Scenario(text="Cy speaks."))
    room_id = create_room(live_url, owner, THREE, rounds=1)

    events = start(live_url, owner, room_id)

    errors = [e.data for e in events if e.event == "agent_error"]
    assert errors == [{"type": "agent_error", "agent": "Bo", "error": errors[0]["error"], "message_id": errors[0]["message_id"]}]
    assert "HTTP 500" in errors[0]["error"]
    assert [e.data["sender_name"] for e in events if e.event == "message"] == ["Ada", "Cy"]
    assert events[-1].event == "room_completed"
    # And the room's messages keep the failed turn with its reason
    listed = httpx.get(f"{live_url}/api/chat-rooms/{room_id}/messages", headers=headers(owner)).json()["data"]["messages"]
    assert [(m["sender_name"], m["status"], m["error"]) for m in listed] == [
        ("User", "complete", ""),
        ("Ada", "complete", ""),
        ("Bo", "error", errors[0]["error"]),
        ("Cy", "complete", ""),
    ]
    # And the event names the saved failed turn
    assert errors[0]["message_id"] == listed[2]["id"]


def test_an_agent_without_a_usable_provider_is_saved_as_an_error_turn_and_the_room_goes_on(
    live_url: str, owner: Any, fake_llm: Any
) -> None:
    # Given a room whose second agent's provider is disabled
    off = Provider.objects.create(user=owner, name="off", base_url=fake_llm.base_url + "/v1", default_model="fake-model", enabled=False)
    room = ChatRoom.objects.create(user=owner, title="t", task="Plan the launch", max_rounds=1)
    for position, (name, provider) in enumerate([("Ada", None), ("Bo", off), ("Cy", None)]):
        room.agents.create(name=name, model="fake-model", provider=provider, turn_order=position)
    fake_llm.script(Scenario(text="Ada speaks."), Scenario(text="Cy speaks."))

    # When it runs
    events = start(live_url, owner, room.pk)

    # Then that agent's turn is an agent_error, saved as an error turn in its place
    errors = [e.data for e in events if e.event == "agent_error"]
    assert errors == [{"type": "agent_error", "agent": "Bo", "error": NO_PROVIDER, "message_id": errors[0]["message_id"]}]
    assert events[-1].event == "room_completed"
    listed = httpx.get(f"{live_url}/api/chat-rooms/{room.pk}/messages", headers=headers(owner)).json()["data"]["messages"]
    assert errors[0]["message_id"] == listed[2]["id"]
    assert [(m["sender_name"], m["status"], m["content"], m["error"], m["round_number"]) for m in listed] == [
        ("User", "complete", "Plan the launch", "", 0),
        ("Ada", "complete", "Ada speaks.", "", 1),
        ("Bo", "error", "", "This agent has no usable model provider or model.", 1),
        ("Cy", "complete", "Cy speaks.", "", 1),
    ]
    # And the next speaker sees no turn of Bo's
    assert fake_llm.requests[1].body["messages"][1:] == [
        {"role": "user", "content": "Plan the launch"},
        {"role": "user", "content": "[Ada]: Ada speaks."},
    ]


def test_stop_pauses_after_the_current_chunk_and_start_resumes_with_the_next_speaker(live_url: str, owner: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(tokens=300, tokens_per_second=50), Scenario(text="Bo picks up."), Scenario(text="Cy ends."))
    room_id = create_room(live_url, owner, THREE, rounds=1)
    received: list[str] = []

    def stop_soon() -> None:
        for _ in range(200):
            if sum("message_chunk" in r for r in received) >= 3:
                break
            time.sleep(0.02)
        httpx.post(f"{live_url}/api/chat-rooms/{room_id}/stop", headers=headers(owner))

    stopper = threading.Thread(target=stop_soon)
    stopper.start()
    with httpx.stream("POST", f"{live_url}/api/chat-rooms/{room_id}/start", headers=headers(owner), timeout=60) as response:
        for chunk in response.iter_text():
            received.append(chunk)
    stopper.join()
    first = parse_sse("".join(received))

    assert first[-1].event == "room_paused"
    assert first[-1].data == {"type": "room_paused", "room_id": room_id, "round": 1}
    partial = Message.objects.get(room_id=room_id, sender_name="Ada")
    assert partial.status == "stopped" and 0 < len(partial.content.split()) < 300
    assert ChatRoom.objects.get(pk=room_id).status == "paused"

    second = start(live_url, owner, room_id)

    assert [e.data["sender_name"] for e in second if e.event == "message"] == ["Bo", "Cy"]
    assert second[-1].event == "room_completed"
    assert Message.objects.filter(room_id=room_id, role="assistant").count() == 3


def test_conflicts(live_url: str, owner: Any, fake_llm: Any) -> None:
    room_id = create_room(live_url, owner, THREE[:1], rounds=1)
    start(live_url, owner, room_id)
    client = api_client_for(owner)

    again = client.post(f"/api/chat-rooms/{room_id}/start")
    stop_idle = client.post(f"/api/chat-rooms/{room_id}/stop")
    ChatRoom.objects.filter(pk=room_id).update(status="running")
    running_start = client.post(f"/api/chat-rooms/{room_id}/start")
    running_reset = client.post(f"/api/chat-rooms/{room_id}/reset")
    running_delete = client.delete(f"/api/chat-rooms/{room_id}")
    ChatRoom.objects.filter(pk=room_id).update(status="completed")
    reset = client.post(f"/api/chat-rooms/{room_id}/reset")

    assert again.status_code == 409 and "reset it" in again.json()["message"]
    assert stop_idle.status_code == 409
    assert (running_start.status_code, running_reset.status_code, running_delete.status_code) == (409, 409, 409)
    assert reset.status_code == 200 and reset.json()["data"]["status"] == "idle" and reset.json()["data"]["current_round"] == 0
    assert Message.objects.filter(room_id=room_id).count() == 0


def test_room_crud_and_room_agents(owner: Any) -> None:
    template = Agent.objects.create(
        user=owner, name="Template", role="from a template", color="#123456", model="fake-model", provider=owner.provider
    )
    client = api_client_for(owner)

    created = client.post(
        "/api/chat-rooms/",
        {"title": "T", "task": "Discuss", "agents": [{"agent_id": template.pk, "role": "overridden"}, {"name": "Inline", "color": "#abc"}]},
        format="json",
    ).json()["data"]
    room_id = created["id"]
    added = client.post(f"/api/chat-rooms/{room_id}/agents", {"agent_id": template.pk, "name": "Second copy"}, format="json").json()["data"]
    moved = client.put(f"/api/chat-rooms/{room_id}/agents/{added['id']}", {"turn_order": 0, "role": "first now"}, format="json").json()[
        "data"
    ]
    removed = client.delete(f"/api/chat-rooms/{room_id}/agents/{created['agents'][1]['id']}")
    detail = client.get(f"/api/chat-rooms/{room_id}").json()["data"]
    listing = client.get("/api/chat-rooms/").json()["data"]
    updated = client.put(f"/api/chat-rooms/{room_id}", {"title": "New", "max_rounds": 10}, format="json").json()["data"]

    assert created["id"].startswith("room_") and created["status"] == "idle" and created["max_rounds"] == 5
    assert [(a["name"], a["role"], a["color"], a["agent_id"], a["turn_order"]) for a in created["agents"]] == [
        ("Template", "overridden", "#123456", template.pk, 0),
        ("Inline", "", "#abc", None, 1),
    ]
    assert added["turn_order"] == 2 and added["name"] == "Second copy"
    assert (moved["turn_order"], moved["role"]) == (0, "first now")
    assert removed.status_code == 200
    assert [a["name"] for a in detail["agents"]] == ["Template", "Second copy"]
    assert detail["message_count"] == 0
    assert listing["total"] == 1 and listing["items"][0]["id"] == room_id
    assert (updated["title"], updated["max_rounds"]) == ("New", 10)
    assert client.delete(f"/api/chat-rooms/{room_id}").status_code == 200


def test_other_users_rooms_agents_and_templates_are_404_or_refused(owner: Any) -> None:
    room = ChatRoom.objects.create(user=owner, title="mine", task="t")
    seat = room.agents.create(name="A")
    template = Agent.objects.create(user=owner, name="mine")
    stranger = api_client_for(make_user())

    statuses = [
        stranger.get(f"/api/chat-rooms/{room.pk}").status_code,
        stranger.put(f"/api/chat-rooms/{room.pk}", {"title": "x"}, format="json").status_code,
        stranger.delete(f"/api/chat-rooms/{room.pk}").status_code,
        stranger.post(f"/api/chat-rooms/{room.pk}/start").status_code,
        stranger.post(f"/api/chat-rooms/{room.pk}/stop").status_code,
        stranger.post(f"/api/chat-rooms/{room.pk}/reset").status_code,
        stranger.get(f"/api/chat-rooms/{room.pk}/messages").status_code,
        stranger.get(f"/api/chat-rooms/{room.pk}/events").status_code,
        stranger.post(f"/api/chat-rooms/{room.pk}/agents", {"name": "x"}, format="json").status_code,
        stranger.put(f"/api/chat-rooms/{room.pk}/agents/{seat.pk}", {"name": "x"}, format="json").status_code,
        stranger.delete(f"/api/chat-rooms/{room.pk}/agents/{seat.pk}").status_code,
    ]
    with_foreign_template = stranger.post(
        "/api/chat-rooms/", {"title": "t", "task": "t", "agents": [{"agent_id": template.pk}]}, format="json"
    )

    assert statuses == [404] * len(statuses)
    assert with_foreign_template.status_code == 400 and "agents[0].agent_id" in with_foreign_template.json()["errors"]
    assert ChatRoom.objects.filter(pk=room.pk, title="mine").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"agents": []}, "agents"),
        ({"agents": [{"agent_id": 999999}]}, "agents[0].agent_id"),
        ({"agents": [{"role": "no name"}]}, "agents[0].name"),
        ({"max_rounds": 0}, "max_rounds"),
        ({"max_rounds": 51}, "max_rounds"),
        ({"max_rounds": "3"}, "max_rounds"),
        ({"agents": [{"name": "A", "color": "red"}]}, "agents.0.color"),
        ({"title": 7}, "title"),
        ({"task": ""}, "task"),
    ],
)
def test_bad_room_input_is_400_naming_the_field(owner: Any, body: dict, field: str) -> None:
    payload = {"title": "t", "task": "do it", "agents": [{"name": "A"}], **body}

    response = api_client_for(owner).post("/api/chat-rooms/", payload, format="json")

    assert response.status_code == 400
    assert any(key.startswith(field.split(".")[0]) for key in response.json()["errors"]), response.json()
    assert field.replace(".0.", "[0].") in response.json()["message"] or field in response.json()["message"]
    assert ChatRoom.objects.count() == 0


def read_observer(url: str, user: Any, room_id: str, last_event_id: str | None) -> list[Any]:
    extra = {"Last-Event-ID": last_event_id} if last_event_id else {}
    text = ""
    with httpx.stream("GET", f"{url}/api/chat-rooms/{room_id}/events", headers={**headers(user), **extra}, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for chunk in response.iter_text():
            text += chunk
            if "room_completed" in text:
                break
    return [e for e in parse_sse(text) if e.event and e.event != "stream-open"]


def test_an_observer_sees_the_run_and_replays_exactly_what_it_missed(live_url: str, owner: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(text="Only Ada speaks."))
    room_id = create_room(live_url, owner, THREE[:1], rounds=1)
    started = start(live_url, owner, room_id)

    everything = read_observer(live_url, owner, room_id, f"room-{room_id}:0")
    missed = read_observer(live_url, owner, room_id, everything[3].id)

    assert [(e.event, e.data) for e in everything] == [(e.event, e.data) for e in started]
    assert [(e.event, e.data) for e in missed] == [(e.event, e.data) for e in started[4:]]
    assert httpx.get(f"{live_url}/api/chat-rooms/{room_id}/events", timeout=5).status_code == 401
