"""Two server processes sharing PostgreSQL and Redis: stop, observe and reset across them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection

from fakellm import Scenario
from rooms.models import ChatRoom
from tests.chat.conftest import make_provider
from tests.support.factories import access_token_for, make_user
from tests.support.sse import parse_sse

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def two_servers() -> Iterator[list[str]]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "luxx.settings",
        "LUXX_DATA_DIR": tempfile.mkdtemp(prefix="luxx-two-"),
    }
    processes, urls = [], []
    for _ in range(2):
        port = _free_port()
        processes.append(
            subprocess.Popen(
                [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port), "luxx.asgi:application"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            deadline = time.monotonic() + 90  # a loaded machine: the first request imports the URLconf
            while True:
                try:
                    if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not start")
                time.sleep(0.2)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _observe(url: str, room_id: str, token: str, into: list[str], stop: threading.Event, last_event_id: str | None = None) -> None:
    headers = {"Authorization": f"Bearer {token}", **({"Last-Event-ID": last_event_id} if last_event_id else {})}
    try:
        with httpx.stream("GET", f"{url}/api/chat-rooms/{room_id}/events", headers=headers, timeout=30) as response:
            for chunk in response.iter_text():
                into.append(chunk)
                if stop.is_set() or any(kind in "".join(into) for kind in ("room_paused", "room_completed", "room_reset")):
                    return
    except httpx.HTTPError:
        return


def test_a_room_started_on_one_process_is_stopped_and_observed_through_the_other(two_servers: list[str], fake_llm: Any) -> None:
    first, second = two_servers
    user = make_user()
    make_provider(user, fake_llm)
    room = ChatRoom.objects.create(user=user, title="x", task="Cross-process task", max_rounds=1)
    room.agents.create(name="Ada", model="fake-model", color="#10b981")
    room.agents.create(name="Bo", model="fake-model", color="#f59e0b")
    token = access_token_for(user)
    fake_llm.script(Scenario(tokens=400, tokens_per_second=40), match="Cross-process task")

    observed: list[str] = []
    done = threading.Event()
    observer = threading.Thread(target=_observe, args=(second, room.pk, token, observed, done))
    observer.start()
    time.sleep(0.5)
    started: list[str] = []
    stop_sent = False
    with httpx.stream(
        "POST", f"{first}/api/chat-rooms/{room.pk}/start", headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as response:
        for chunk in response.iter_text():
            started.append(chunk)
            if not stop_sent and "".join(started).count("message_chunk") >= 5:
                stop_sent = True
                stop = httpx.post(f"{second}/api/chat-rooms/{room.pk}/stop", headers={"Authorization": f"Bearer {token}"})
                assert stop.status_code == 200, stop.text
    observer.join(timeout=30)
    done.set()

    starter_events = [(e.event, e.data) for e in parse_sse("".join(started))]
    observer_events = [e for e in parse_sse("".join(observed)) if e.event and e.event != "stream-open"]
    assert starter_events[-1][0] == "room_paused"
    assert ChatRoom.objects.get(pk=room.pk).status == "paused"
    assert [(e.event, e.data) for e in observer_events] == starter_events

    replay: list[str] = []
    _observe(second, room.pk, token, replay, threading.Event(), last_event_id=observer_events[2].id)
    replayed = [(e.event, e.data) for e in parse_sse("".join(replay)) if e.event and e.event != "stream-open"]
    assert replayed == starter_events[3:]


def test_a_reset_on_one_process_reaches_an_observer_of_the_other(two_servers: list[str]) -> None:
    # Given an observer of a room on the second process
    first, second = two_servers
    user = make_user()
    room = ChatRoom.objects.create(user=user, title="x", task="Reset across", max_rounds=1, status="completed")
    token = access_token_for(user)
    observed: list[str] = []
    observer = threading.Thread(target=_observe, args=(second, room.pk, token, observed, threading.Event()), daemon=True)
    observer.start()
    time.sleep(0.5)

    # When the room is reset through the first
    reset = httpx.post(f"{first}/api/chat-rooms/{room.pk}/reset", headers={"Authorization": f"Bearer {token}"})
    observer.join(timeout=10)

    # Then the observer is told
    assert reset.status_code == 200, reset.text
    events = [(e.event, e.data) for e in parse_sse("".join(observed)) if e.event and e.event != "stream-open"]
    assert events == [("room_reset", {"type": "room_reset", "room_id": room.pk})]


def test_the_owners_message_on_one_process_reaches_an_observer_of_the_other_and_the_run_goes_on(
    two_servers: list[str], fake_llm: Any
) -> None:
    # Given a room waiting for its owner, observed through the second process
    first, second = two_servers
    user = make_user()
    make_provider(user, fake_llm)
    room = ChatRoom.objects.create(
        user=user,
        title="x",
        task="Human across",
        max_rounds=2,
        human_turn="every_round",
        status="waiting",
        human_request="every_round",
        current_round=2,
    )
    room.agents.create(name="Ada", model="fake-model", color="#10b981")
    fake_llm.script(Scenario(text="Heard you."), match="Go on")
    token = access_token_for(user)
    observed: list[str] = []
    observer = threading.Thread(target=_observe, args=(second, room.pk, token, observed, threading.Event()), daemon=True)
    observer.start()
    time.sleep(0.5)

    # When the owner speaks through the first
    auth = {"Authorization": f"Bearer {token}"}
    posted = httpx.post(f"{first}/api/chat-rooms/{room.pk}/messages", json={"content": "Go on"}, headers=auth)
    observer.join(timeout=30)

    # Then the observer sees the message, and the run that goes on
    assert posted.status_code == 201, posted.text
    events = [(e.event, e.data) for e in parse_sse("".join(observed)) if e.event and e.event != "stream-open"]
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "human_message" and events[0][1]["content"] == "Go on" and events[0][1]["id"] == posted.json()["data"]["id"]
    assert kinds[1] == "round_start"
    assert [data["content"] for kind, data in events if kind == "message"] == ["Heard you."]
    assert kinds[-1] == "room_completed"
    assert ChatRoom.objects.get(pk=room.pk).status == "completed"
