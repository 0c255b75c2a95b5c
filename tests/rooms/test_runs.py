"""A room's run as a server-side job: it outlives its starter, saves as it goes, recovers
from a dead process; observers get every event once, and a reset; the replay log's window."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.test import override_settings
from django.utils import timezone
from django_eventstream.storage import EventDoesNotExist

from chat.models import Message
from fakellm import Scenario
from rooms.eventstream import DatabaseEventStorage
from rooms.models import ChatRoom
from tests.chat.conftest import make_provider
from tests.support.factories import access_token_for, api_client_for, make_user
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def owner(fake_llm: Any) -> Any:
    user = make_user()
    make_provider(user, fake_llm)
    return user


def auth(user: Any, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token_for(user)}", **extra}


def make_room(user: Any, names: tuple[str, ...] = ("Ada", "Bo", "Cy"), rounds: int = 1, task: str = "Plan it") -> ChatRoom:
    room = ChatRoom.objects.create(user=user, title="t", task=task, max_rounds=rounds)
    for position, name in enumerate(names):
        room.agents.create(name=name, model="fake-model", color="#10b981", turn_order=position)
    return room


def wait_for_status(room_id: str, status: str, timeout: float = 15) -> ChatRoom:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        room = ChatRoom.objects.get(pk=room_id)
        if room.status == status:
            return room
        time.sleep(0.05)
    raise AssertionError(f"room still {ChatRoom.objects.get(pk=room_id).status}, not {status}")


def read_until(url: str, path: str, user: Any, method: str, last: set[str], into: list[str], *, timeout: float = 30, **extra: str) -> int:
    with httpx.stream(method, f"{url}{path}", headers=auth(user, **extra), timeout=timeout) as response:
        for text in response.iter_text():
            into.append(text)
            if any(f"event: {kind}\n" in "".join(into) for kind in last):
                break
        return response.status_code


def test_the_run_goes_on_when_the_starter_disconnects(live_url: str, owner: Any, fake_llm: Any) -> None:
    fake_llm.script(*[Scenario(tokens=10, tokens_per_second=40)] * 2)
    room = make_room(owner, ("Ada", "Bo"))
    seen: list[str] = []

    status = read_until(live_url, f"/api/chat-rooms/{room.pk}/start", owner, "POST", {"message_chunk"}, seen, Accept="text/event-stream")

    assert status == 200
    wait_for_status(room.pk, "completed")
    replies = Message.objects.filter(room=room, role="assistant").order_by("created_at")
    assert [(m.sender_name, m.status, len(m.content.split())) for m in replies] == [("Ada", "complete", 10), ("Bo", "complete", 10)]


def test_a_turn_is_saved_while_it_streams(live_url: str, owner: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(tokens=200, tokens_per_second=50))
    room = make_room(owner, ("Ada",))
    seen: list[str] = []
    saved: list[tuple[str, int]] = []

    def look_then_stop() -> None:
        # From the turn's first chunk: the run starts when a worker takes its task.
        deadline = time.monotonic() + 15
        while "message_chunk" not in "".join(seen) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1.8)
        message = Message.objects.get(room=room, role="assistant")
        saved.append((message.status, len(message.content.split())))
        httpx.post(f"{live_url}/api/chat-rooms/{room.pk}/stop", headers=auth(owner))

    looker = threading.Thread(target=look_then_stop)
    looker.start()
    read_until(live_url, f"/api/chat-rooms/{room.pk}/start", owner, "POST", {"room_paused"}, seen)
    looker.join()

    ((status, words),) = saved
    assert status == "streaming" and 20 < words < 200
    assert ChatRoom.objects.get(pk=room.pk).heartbeat_at is not None


def test_a_room_whose_process_died_is_resumed_with_the_interrupted_speaker(live_url: str, owner: Any, fake_llm: Any) -> None:
    room = make_room(owner)
    Message.objects.create(user=owner, room=room, role="user", content="Plan it", sender_name="User", round_number=0)
    ada = room.agents.get(name="Ada")
    bo = room.agents.get(name="Bo")
    Message.objects.create(
        user=owner, room=room, role="assistant", content="Ada was here.", sender_name="Ada", round_number=1, room_agent=ada
    )
    partial = Message.objects.create(
        user=owner, room=room, role="assistant", content="Bo half", status="streaming", sender_name="Bo", round_number=1, room_agent=bo
    )
    ChatRoom.objects.filter(pk=room.pk).update(
        status="running", current_round=1, next_turn_index=1, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    fake_llm.script(Scenario(text="Bo again."), Scenario(text="Cy closes."))
    seen: list[str] = []

    status = read_until(live_url, f"/api/chat-rooms/{room.pk}/start", owner, "POST", {"room_completed", "error"}, seen)

    events = parse_sse("".join(seen))
    assert status == 200
    assert [e.data["sender_name"] for e in events if e.event == "message"] == ["Bo", "Cy"]
    assert events[-1].event == "room_completed"
    partial.refresh_from_db()
    assert (partial.status, partial.content) == ("interrupted", "Bo half")
    bo_request = fake_llm.requests[0].body["messages"]
    assert {"role": "user", "content": "[Ada]: Ada was here."} in bo_request
    assert all("Bo half" not in str(m["content"]) for m in bo_request)


def test_stopping_a_room_whose_process_died_pauses_it_at_once(owner: Any) -> None:
    room = make_room(owner)
    ChatRoom.objects.filter(pk=room.pk).update(status="running", heartbeat_at=timezone.now() - timedelta(minutes=5))
    live = make_room(owner)
    ChatRoom.objects.filter(pk=live.pk).update(status="running", heartbeat_at=timezone.now())
    client = api_client_for(owner)

    stale = client.post(f"/api/chat-rooms/{room.pk}/stop")
    running_reset = client.post(f"/api/chat-rooms/{live.pk}/reset")

    assert stale.status_code == 200 and stale.json()["data"] == {"room_id": room.pk, "status": "paused"}
    assert ChatRoom.objects.get(pk=room.pk).status == "paused"
    assert running_reset.status_code == 409


def test_a_live_observer_gets_every_event_once_and_in_order(live_url: str, owner: Any, fake_llm: Any) -> None:
    fake_llm.script(*[Scenario(tokens=60)] * 6)
    room = make_room(owner, rounds=2)
    observed: list[str] = []
    observer = threading.Thread(
        target=read_until,
        args=(live_url, f"/api/chat-rooms/{room.pk}/events", owner, "GET", {"room_completed"}, observed),
        kwargs={"Accept": "text/event-stream"},
    )
    observer.start()
    time.sleep(0.3)
    started: list[str] = []

    read_until(live_url, f"/api/chat-rooms/{room.pk}/start", owner, "POST", {"room_completed"}, started)
    observer.join(timeout=20)

    from_starter = [(e.event, e.data) for e in parse_sse("".join(started))]
    from_observer = [e for e in parse_sse("".join(observed)) if e.event]
    kinds = [event for event, _ in from_starter]
    assert (kinds[0], kinds[-1]) == ("room_started", "room_completed")
    assert kinds.count("message_start") == kinds.count("message_end") == kinds.count("message") == 6
    for end in (data for event, data in from_starter if event == "message_end"):
        text = "".join(data["content"] for event, data in from_starter if event == "message_chunk" and data["id"] == end["id"])
        assert text == end["content"] and len(text.split()) == 60
    assert [(e.event, e.data) for e in from_observer] == from_starter
    assert [int(e.id.rsplit(":", 1)[1]) for e in from_observer] == list(range(1, len(from_starter) + 1))


def test_a_replay_from_beyond_the_log_is_a_stream_reset_and_a_bad_id_is_400(live_url: str, owner: Any) -> None:
    room = make_room(owner)
    seen: list[str] = []

    beyond = {"Last-Event-ID": f"room-{room.pk}:99"}
    read_until(live_url, f"/api/chat-rooms/{room.pk}/events", owner, "GET", {"stream-reset"}, seen, **beyond)
    bad = httpx.get(f"{live_url}/api/chat-rooms/{room.pk}/events", headers=auth(owner, **{"Last-Event-ID": f"room-{room.pk}:y"}))

    (reset,) = [e for e in parse_sse("".join(seen)) if e.event]
    assert (reset.event, reset.data, reset.id) == ("stream-reset", {"channels": [f"room-{room.pk}"]}, f"room-{room.pk}:0")
    assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["message"]


def test_an_observer_connected_before_a_reset_receives_room_reset(live_url: str, owner: Any, fake_llm: Any) -> None:
    # Given a room that ran, and an observer following it
    fake_llm.script(Scenario(text="Ada speaks."))
    room = make_room(owner, ("Ada",))
    read_until(live_url, f"/api/chat-rooms/{room.pk}/start", owner, "POST", {"room_completed"}, [])
    wait_for_status(room.pk, "completed")
    observed: list[str] = []
    observer = threading.Thread(
        target=read_until, args=(live_url, f"/api/chat-rooms/{room.pk}/events", owner, "GET", {"room_reset"}, observed), daemon=True
    )
    observer.start()
    deadline = time.monotonic() + 10
    while ": open" not in "".join(observed) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # past the observer's first look at the log

    # When another client resets the room
    reset = httpx.post(f"{live_url}/api/chat-rooms/{room.pk}/reset", headers=auth(owner))
    observer.join(timeout=10)

    # Then the observer is told, with the room's id
    assert reset.status_code == 200
    events = [e for e in parse_sse("".join(observed)) if e.event]
    assert [(e.event, e.data) for e in events] == [("room_reset", {"type": "room_reset", "room_id": room.pk})]


def test_a_replay_from_before_a_reset_is_a_stream_reset_never_the_old_transcript(live_url: str, owner: Any, fake_llm: Any) -> None:
    # Given a room whose run sent events 1..n, then was reset (event n + 1)
    fake_llm.script(Scenario(text="Ada speaks."), Scenario(text="Ada again."))
    room = make_room(owner, ("Ada",))
    started: list[str] = []
    read_until(live_url, f"/api/chat-rooms/{room.pk}/start", owner, "POST", {"room_completed"}, started)
    sent = len(parse_sse("".join(started)))
    wait_for_status(room.pk, "completed")
    assert httpx.post(f"{live_url}/api/chat-rooms/{room.pk}/reset", headers=auth(owner)).status_code == 200
    channel = f"room-{room.pk}"

    def replay(after: int) -> list[Any]:
        """The events an observer reconnecting after event ``after`` gets, up to the first
        (a read timeout, shorter than the keep-alive, when none comes)."""
        seen: list[str] = []
        first = {"stream-reset", "room_reset", "room_started", "round_start", "message_start", "message_chunk"}
        path = f"/api/chat-rooms/{room.pk}/events"
        read_until(live_url, path, owner, "GET", first, seen, timeout=5, **{"Last-Event-ID": f"{channel}:{after}"})
        return [(e.event, e.data, e.id) for e in parse_sse("".join(seen)) if e.event]

    # When observers reconnect from the middle of the old run, and from its last event
    from_middle = replay(2)
    from_last = replay(sent)

    # Then the first is told to reload, and gets none of the old events; the second gets the reset
    assert from_middle == [("stream-reset", {"channels": [channel]}, f"{channel}:{sent + 1}")]
    assert from_last == [("room_reset", {"type": "room_reset", "room_id": room.pk}, f"{channel}:{sent + 1}")]

    # And the next run's events go on from there, never reusing an old id
    read_until(live_url, f"/api/chat-rooms/{room.pk}/start", owner, "POST", {"room_completed"}, [])
    event, _, event_id = replay(sent + 1)[0]
    assert (event, event_id) == ("room_started", f"{channel}:{sent + 2}")


@pytest.mark.parametrize(
    ("before", "after", "code"),
    [
        ("idle", "completed", 400),
        ("idle", "paused", 400),
        ("idle", "running", 400),
        ("paused", "completed", 200),
        ("paused", "idle", 200),
        ("completed", "idle", 200),
        ("error", "idle", 200),
        ("paused", "paused", 200),
    ],
)
def test_status_can_be_set_only_along_sensible_transitions(owner: Any, before: str, after: str, code: int) -> None:
    room = make_room(owner)
    ChatRoom.objects.filter(pk=room.pk).update(status=before)

    response = api_client_for(owner).put(f"/api/chat-rooms/{room.pk}", {"status": after}, format="json")

    assert response.status_code == code, response.json()
    assert ChatRoom.objects.get(pk=room.pk).status == (after if code == 200 else before)
    if code == 400:
        assert "status" in response.json()["errors"]


@override_settings(ROOM_EVENTS_MAX=3)
def test_the_database_log_keeps_a_window_and_says_when_an_id_fell_out_of_it() -> None:
    storage = DatabaseEventStorage()
    channel = f"room-window-{time.monotonic_ns()}"
    for number in range(5):
        storage.append_event(channel, "tick", f'{{"n": {number}}}')

    kept = storage.get_events(channel, 2)
    with pytest.raises(EventDoesNotExist) as gone:
        storage.get_events(channel, 1)

    assert [(e.id, e.data) for e in kept] == [(3, '{"n": 2}'), (4, '{"n": 3}'), (5, '{"n": 4}')]
    assert storage.get_events(channel, 5) == [] and storage.get_current_id(channel) == 5
    assert gone.value.current_id == 5


def test_a_restarted_database_log_keeps_only_the_restarting_event_and_its_ids_go_on() -> None:
    storage = DatabaseEventStorage()
    channel = f"room-restart-{time.monotonic_ns()}"
    for number in range(3):
        storage.append_event(channel, "tick", f'{{"n": {number}}}')

    restarted = storage.append_event(channel, "room_reset", "{}", restart=True)
    with pytest.raises(EventDoesNotExist) as gone:
        storage.get_events(channel, 2)

    assert restarted.id == 4
    assert [(e.id, e.type) for e in storage.get_events(channel, 3)] == [(4, "room_reset")]
    assert gone.value.current_id == 4
