"""Rooms that work as a team, end to end over a real server against the fake LLM: who speaks
next (selector, mention, moderator), when the run ends (each termination condition, alone
and combined, with a closing summary), and the room owner's seat (human turns)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from agents.models import Provider
from chat.models import Message
from fakellm import Scenario
from rooms.models import ChatRoom
from tests.chat.conftest import make_provider
from tests.support.factories import access_token_for, api_client_for, make_user
from tests.support.sse import SSEEvent, parse_sse

pytestmark = pytest.mark.django_db(transaction=True)

SELECT = "Who speaks next?"


@pytest.fixture
def owner(fake_llm: Any) -> Any:
    user = make_user()
    make_provider(user, fake_llm)
    return user


def headers(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token_for(user)}"}


def agents(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "role": f"the {name.lower()}", "model": "fake-model"} for name in names]


def create(url: str, user: Any, names: tuple[str, ...], *, rounds: int = 2, task: str = "Plan the launch", **team: Any) -> str:
    body = {"title": "Team", "task": task, "max_rounds": rounds, "agents": agents(*names), **team}
    response = httpx.post(f"{url}/api/chat-rooms/", json=body, headers=headers(user))
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def start(url: str, user: Any, room_id: str) -> list[SSEEvent]:
    with httpx.stream("POST", f"{url}/api/chat-rooms/{room_id}/start", headers=headers(user), timeout=60) as response:
        assert response.status_code == 200, response.read()
        return parse_sse(response.read().decode())


def wait_for(room_id: str, status: str, timeout: float = 20) -> ChatRoom:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        room = ChatRoom.objects.get(pk=room_id)
        if room.status == status:
            return room
        time.sleep(0.05)
    raise AssertionError(f"room {ChatRoom.objects.get(pk=room_id).status}, not {status}")


def speakers(room_id: str) -> list[str]:
    turns = Message.objects.filter(room_id=room_id, role="assistant").order_by("created_at", "id")
    return list(turns.values_list("sender_name", flat=True))


def of(events: list[SSEEvent], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.event == kind]


# --- who speaks next ---------------------------------------------------------------------


def test_the_selector_picks_and_falls_back_on_invalid_repeated_and_empty_answers(live_url: str, owner: Any, fake_llm: Any) -> None:
    # Given a selector room whose selector answers well, repeats, names nobody, says nothing
    fake_llm.script(
        Scenario(text="Cy"),
        Scenario(text="Cy"),
        Scenario(text="Nobody at all"),
        Scenario(text=""),
        Scenario(text="@bo."),
        Scenario(text="Bo"),
        match=SELECT,
    )
    room_id = create(live_url, owner, ("Ada", "Bo", "Cy"), speaker_policy="selector")

    # When it runs its two rounds
    events = start(live_url, owner, room_id)

    # Then every bad answer falls back to the next agent in turn order, never stalling
    selected = of(events, "speaker_selected")
    assert [(s["agent"], s["fallback"]) for s in selected] == [
        ("Cy", False),
        ("Ada", True),
        ("Bo", True),
        ("Cy", True),
        ("Bo", False),
        ("Cy", True),
    ]
    assert all(s["policy"] == "selector" and s["reason"] and s["type"] == "speaker_selected" for s in selected)
    assert "again" in selected[1]["reason"] and "gave no answer" in selected[3]["reason"]
    assert speakers(room_id) == ["Cy", "Ada", "Bo", "Cy", "Bo", "Cy"]
    assert events[-1].data == {
        "type": "room_completed",
        "room_id": room_id,
        "total_rounds": 2,
        "reason": "max_rounds",
        "summary_message_id": None,
    }
    prompts = [r.body["messages"][-1]["content"] for r in fake_llm.requests if SELECT in str(r.body["messages"][-1]["content"])]
    assert len(prompts) == 6
    assert "- Ada: the ada" in prompts[0] and prompts[1].endswith("Answer with exactly one name from: Ada, Bo.")


def test_a_selector_that_fails_falls_back_and_the_run_goes_on(live_url: str, owner: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(fault="hang"), match=SELECT)
    room_id = create(live_url, owner, ("Ada", "Bo"), rounds=1, speaker_policy="selector", allow_repeated_speaker=True)

    from django.test import override_settings

    with override_settings(LUXX_LLM_FIRST_TOKEN_TIMEOUT=1.0, LUXX_LLM_MAX_RETRIES=0):
        events = start(live_url, owner, room_id)

    selected = of(events, "speaker_selected")
    assert [s["agent"] for s in selected] == ["Ada", "Bo"]
    assert selected[0]["fallback"] and "selector failed" in selected[0]["reason"]
    assert events[-1].event == "room_completed"


def test_the_room_may_name_its_selector_model_on_another_provider(live_url: str, owner: Any, fake_llm: Any) -> None:
    judge = Provider(user=owner, name="judge", provider_type="anthropic", base_url=fake_llm.base_url, default_model="fake-model")
    judge.api_key = "sk-judge"
    judge.save()
    fake_llm.script(Scenario(text="Bo"), Scenario(text="Ada"), match=SELECT)
    selector = {"speaker_policy": "selector", "selector_provider_id": judge.pk, "selector_model": "judge"}
    room_id = create(live_url, owner, ("Ada", "Bo"), rounds=1, **selector)

    events = start(live_url, owner, room_id)

    assert [s["agent"] for s in of(events, "speaker_selected")] == ["Bo", "Ada"]
    asked = [r for r in fake_llm.requests if SELECT in str(r.body["messages"][-1]["content"])]
    assert [(r.path, r.body["model"]) for r in asked] == [("/v1/messages", "judge")] * 2
    others = [r.body["model"] for r in fake_llm.requests if r not in asked]
    assert others == ["fake-model", "fake-model"]
    stranger = make_provider(make_user(), fake_llm)
    body = {"title": "t", "task": "x", "agents": [{"name": "Ada"}], "selector_provider_id": stranger.pk}
    refused = api_client_for(owner).post("/api/chat-rooms/", body, format="json")
    assert refused.status_code == 400 and "selector_provider_id" in refused.json()["errors"]


def test_mention_hands_the_word_to_the_agent_named_and_otherwise_follows_turn_order(live_url: str, owner: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(text="Over to @Cy for numbers."), match="Plan the launch")
    fake_llm.script(Scenario(text="I think @Ada should answer."), match="Over to @Cy")
    fake_llm.script(Scenario(text="Noted, says @Ada."), match="should answer")
    cap = [{"type": "max_messages", "value": 4}]
    room_id = create(live_url, owner, ("Ada", "Bo", "Cy"), rounds=5, speaker_policy="mention", termination=cap)

    events = start(live_url, owner, room_id)

    selected = of(events, "speaker_selected")
    assert [(s["agent"], s["fallback"]) for s in selected] == [("Ada", True), ("Cy", False), ("Ada", False), ("Bo", True)]
    assert selected[1]["reason"] == "Mentioned by Ada."
    assert speakers(room_id) == ["Ada", "Cy", "Ada", "Bo"]
    assert events[-1].data["reason"] == "max_messages"
    assert ChatRoom.objects.get(pk=room_id).end_reason == "max_messages"


def test_the_moderator_speaks_after_every_turn_names_the_next_and_ends_with_its_conclusion(
    live_url: str, owner: Any, fake_llm: Any
) -> None:
    fake_llm.script(Scenario(text="Let us start.\nNEXT: Writer"), match="Write a slogan")
    fake_llm.script(Scenario(text="Fine.\nNEXT: Writer"), match="[Writer]:")
    fake_llm.script(Scenario(text="Conclusion: ship the second slogan.\nEND"), match="[Critic]:")
    room_id = create(
        live_url, owner, ("Mod", "Writer", "Critic"), rounds=5, task="Write a slogan", speaker_policy="moderator", moderator="Mod"
    )

    events = start(live_url, owner, room_id)

    selected = of(events, "speaker_selected")
    assert [(s["agent"], s["reason"]) for s in selected] == [
        ("Mod", "The moderator opens the discussion."),
        ("Writer", "Named by the moderator."),
        ("Mod", "The moderator speaks after every turn."),
        ("Critic", "The moderator named Writer again, and repeats are off: next in turn order."),
        ("Mod", "The moderator speaks after every turn."),
    ]
    assert speakers(room_id) == ["Mod", "Writer", "Mod", "Critic", "Mod"]
    conclusion = Message.objects.filter(room_id=room_id, role="assistant").order_by("created_at").last()
    assert conclusion is not None and conclusion.content.startswith("Conclusion")
    assert events[-1].data["reason"] == "moderator" and events[-1].data["summary_message_id"] == conclusion.pk
    system = fake_llm.requests[0].body["messages"][0]
    assert system["role"] == "system" and "NEXT: <name>" in system["content"] and "Writer, Critic" in system["content"]


# --- when the run ends ---------------------------------------------------------------------


def test_text_mention_ends_the_run_and_the_summarizer_closes_it(live_url: str, owner: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(text="Draft one."), Scenario(text="Good. APPROVED"), Scenario(text="We agreed on draft one."))
    room_id = create(
        live_url, owner, ("Writer", "Critic"), rounds=5, termination=[{"type": "text_mention", "value": "APPROVED"}], summarizer="Writer"
    )

    events = start(live_url, owner, room_id)

    (summary,) = of(events, "summary")
    stored = Message.objects.get(pk=summary["message_id"])
    assert (stored.sender_name, stored.content, stored.status) == ("Writer", "We agreed on draft one.", "complete")
    assert summary == {"type": "summary", "room_id": room_id, "message_id": stored.pk, "agent": "Writer", "content": stored.content}
    assert events[-1].data == {
        "type": "room_completed",
        "room_id": room_id,
        "total_rounds": 1,
        "reason": "text_mention",
        "summary_message_id": stored.pk,
    }
    assert "Summarize the discussion" in fake_llm.requests[-1].body["messages"][-1]["content"]
    assert "tools" not in fake_llm.requests[-1].body
    room = ChatRoom.objects.get(pk=room_id)
    assert (room.status, room.end_reason, room.summary_message_id) == ("completed", "text_mention", stored.pk)


def test_a_run_that_hits_its_round_cap_still_ends_with_a_summary(live_url: str, owner: Any, fake_llm: Any) -> None:
    room_id = create(live_url, owner, ("Ada", "Bo"), rounds=1, summarizer="Bo")

    events = start(live_url, owner, room_id)

    assert [e.event for e in events][-4:] == ["message_end", "message", "summary", "room_completed"]
    assert speakers(room_id) == ["Ada", "Bo", "Bo"]
    assert events[-1].data["reason"] == "max_rounds" and events[-1].data["summary_message_id"] == of(events, "summary")[0]["message_id"]


@pytest.mark.parametrize(
    ("condition", "turns"),
    [
        ({"type": "token_budget", "value": 1}, 1),
        ({"type": "max_messages", "value": 3}, 3),
        ({"type": "max_rounds", "value": 1}, 2),
        ({"type": "timeout_seconds", "value": 1}, 1),
    ],
)
def test_each_condition_ends_the_run(live_url: str, owner: Any, fake_llm: Any, condition: dict[str, Any], turns: int) -> None:
    pace = 8 if condition["type"] == "timeout_seconds" else None  # a turn of 10 tokens lasts over a second
    fake_llm.script(*[Scenario(tokens=10, tokens_per_second=pace)] * 8)
    room_id = create(live_url, owner, ("Ada", "Bo"), rounds=4, termination=[condition])

    events = start(live_url, owner, room_id)

    assert len(speakers(room_id)) == turns
    assert events[-1].event == "room_completed" and events[-1].data["reason"] == condition["type"]


def test_an_all_condition_fires_only_when_every_part_holds(live_url: str, owner: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(text="DONE early"), Scenario(text="not yet"), Scenario(text="DONE now"), Scenario(text="never"))
    termination = [
        {"type": "all", "conditions": [{"type": "max_messages", "value": 2}, {"type": "text_mention", "value": "DONE"}]},
        {"type": "max_messages", "value": 10},
    ]
    room_id = create(live_url, owner, ("Ada", "Bo"), rounds=4, termination=termination)

    events = start(live_url, owner, room_id)

    assert len(speakers(room_id)) == 3
    assert events[-1].data["reason"] == "all"


# --- the human's seat ---------------------------------------------------------------------------


def test_the_human_is_asked_every_round_and_the_run_goes_on_when_they_speak(live_url: str, owner: Any, fake_llm: Any) -> None:
    room_id = create(live_url, owner, ("Ada", "Bo"), rounds=2, human_turn="every_round")
    observed: list[str] = []

    def observe() -> None:
        with httpx.stream("GET", f"{live_url}/api/chat-rooms/{room_id}/events", headers=headers(owner), timeout=30) as response:
            for text in response.iter_text():
                observed.append(text)
                if "event: room_completed" in "".join(observed):
                    return

    observer = threading.Thread(target=observe, daemon=True)
    observer.start()
    time.sleep(0.3)

    # When the first round ends, the run waits for the owner
    first = start(live_url, owner, room_id)
    assert [e.event for e in first][-2:] == ["round_end", "human_turn_requested"]
    assert first[-1].data == {"type": "human_turn_requested", "room_id": room_id, "round": 2, "reason": "every_round", "agent": None}
    assert wait_for(room_id, "waiting").status == "waiting"
    assert httpx.post(f"{live_url}/api/chat-rooms/{room_id}/start", headers=headers(owner)).status_code == 409

    # And goes on when they speak
    posted = httpx.post(f"{live_url}/api/chat-rooms/{room_id}/messages", json={"content": "Shorter, please."}, headers=headers(owner))
    assert posted.status_code == 201, posted.text
    message = posted.json()["data"]
    assert (message["role"], message["content"], message["round_number"]) == ("user", "Shorter, please.", 2)
    room = wait_for(room_id, "completed")
    observer.join(timeout=20)

    # Then later speakers see it, observers got it, and nobody is asked after the last round
    assert room.human_request == ""
    assert speakers(room_id) == ["Ada", "Bo", "Ada", "Bo"]
    later = fake_llm.requests[2].body["messages"]
    assert any(m["content"] == f"[{owner.nickname or owner.username}]: Shorter, please." for m in later if m["role"] == "user")
    seen = [e for e in parse_sse("".join(observed)) if e.event]
    kinds = [e.event for e in seen]
    assert kinds.count("human_turn_requested") == 1
    assert kinds.index("human_turn_requested") < kinds.index("human_message") < kinds.index("room_completed")
    (human,) = [e.data for e in seen if e.event == "human_message"]
    assert human == {
        "type": "human_message",
        "room_id": room_id,
        "id": message["id"],
        "role": "user",
        "content": "Shorter, please.",
        "sender_name": owner.nickname or owner.username,
        "sender_color": "#10b981",
        "round_number": 2,
    }


def test_an_agent_that_mentions_the_human_hands_them_the_word(live_url: str, owner: Any, fake_llm: Any) -> None:
    fake_llm.script(Scenario(text="Which market, @user?"), match="Plan the launch")
    fake_llm.script(Scenario(text="Europe it is."), match="Europe")
    room_id = create(live_url, owner, ("Ada", "Bo"), rounds=1, human_turn="on_mention")

    first = start(live_url, owner, room_id)
    assert first[-1].data == {"type": "human_turn_requested", "room_id": room_id, "round": 1, "reason": "on_mention", "agent": "Ada"}
    wait_for(room_id, "waiting")
    httpx.post(f"{live_url}/api/chat-rooms/{room_id}/messages", json={"content": "Europe"}, headers=headers(owner))
    wait_for(room_id, "completed")

    assert speakers(room_id) == ["Ada", "Bo"]
    assert Message.objects.get(room_id=room_id, sender_name="Bo").content == "Europe it is."


def test_stop_and_reset_work_while_the_room_waits_for_the_human(live_url: str, owner: Any, fake_llm: Any) -> None:
    room_id = create(live_url, owner, ("Ada",), rounds=3, human_turn="every_round")
    start(live_url, owner, room_id)
    wait_for(room_id, "waiting")

    # Stop while waiting: paused at once
    stopped = httpx.post(f"{live_url}/api/chat-rooms/{room_id}/stop", headers=headers(owner))
    assert stopped.status_code == 200 and stopped.json()["data"]["status"] == "paused"
    # Resume: the owner is asked again
    again = start(live_url, owner, room_id)
    assert [e.event for e in again] == ["room_started", "human_turn_requested"]
    wait_for(room_id, "waiting")
    # Reset while waiting: cleared, idle
    reset = httpx.post(f"{live_url}/api/chat-rooms/{room_id}/reset", headers=headers(owner))
    assert reset.status_code == 200 and reset.json()["data"]["status"] == "idle"
    room = ChatRoom.objects.get(pk=room_id)
    assert (room.human_request, room.current_round, Message.objects.filter(room_id=room_id).count()) == ("", 0, 0)
    # And it runs again from the start
    assert [e.event for e in start(live_url, owner, room_id)][-1] == "human_turn_requested"


def test_the_owner_may_speak_in_any_state_and_others_cannot(owner: Any) -> None:
    room = ChatRoom.objects.create(user=owner, title="t", task="Plan it", max_rounds=1)
    room.agents.create(name="Ada", model="fake-model")
    client = api_client_for(owner)

    spoken = client.post(f"/api/chat-rooms/{room.pk}/messages", {"content": "Before the start."}, format="json")
    empty = client.post(f"/api/chat-rooms/{room.pk}/messages", {"content": "  "}, format="json")
    wrong = client.post(f"/api/chat-rooms/{room.pk}/messages", {"content": 3}, format="json")
    stranger = api_client_for(make_user()).post(f"/api/chat-rooms/{room.pk}/messages", {"content": "hi"}, format="json")

    assert spoken.status_code == 201 and ChatRoom.objects.get(pk=room.pk).status == "idle"
    listed = [(m.role, m.round_number, m.content) for m in Message.objects.filter(room=room).order_by("created_at", "id")]
    assert listed == [("user", 0, "Plan it"), ("user", 1, "Before the start.")]
    assert empty.status_code == 400 and "content" in empty.json()["errors"]
    assert wrong.status_code == 400 and "content" in wrong.json()["errors"]
    assert stranger.status_code == 404


# --- input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"speaker_policy": "chaos"}, "speaker_policy"),
        ({"speaker_policy": "moderator", "moderator": "Zed"}, "moderator"),
        ({"speaker_policy": "moderator"}, "moderator"),
        ({"summarizer": "Zed"}, "summarizer"),
        ({"human_turn": "sometimes"}, "human_turn"),
        ({"allow_repeated_speaker": "yes"}, "allow_repeated_speaker"),
        ({"termination": [{"type": "token_budget", "value": -5}]}, "termination[0].value"),
        ({"termination": [{"type": "timeout_seconds", "value": 0}]}, "termination[0].value"),
        ({"termination": [{"type": "max_messages", "value": 2}, {"type": "max_messages", "value": "3"}]}, "termination[1].value"),
        ({"termination": [{"type": "text_mention", "value": ""}]}, "termination[0].value"),
        ({"termination": [{"type": "forever"}]}, "termination[0].type"),
        ({"termination": [{"type": "all", "conditions": []}]}, "termination[0].conditions"),
        ({"termination": [{"type": "all", "conditions": [{"type": "token_budget", "value": -1}]}]}, "termination[0].conditions[0].value"),
        ({"termination": {"type": "max_messages"}}, "termination"),
        ({"termination": [{"type": "max_messages", "value": 10**400}]}, "termination[0].value"),
        ({"termination": [{"type": "all", "conditions": [{"type": "all", "conditions": []}]}]}, "termination[0].conditions[0].type"),
        ({"termination": ["max_messages"]}, "termination[0].non_field_errors"),
    ],
)
def test_bad_team_input_is_400_naming_the_field(owner: Any, extra: dict[str, Any], field: str) -> None:
    body = {"title": "t", "task": "x", "agents": [{"name": "Ada"}, {"name": "Bo"}], **extra}

    response = api_client_for(owner).post("/api/chat-rooms/", body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not ChatRoom.objects.exists()


def test_the_team_settings_are_returned_and_updated_and_follow_renames(owner: Any) -> None:
    client = api_client_for(owner)
    created = client.post(
        "/api/chat-rooms/",
        {
            "title": "t",
            "task": "x",
            "agents": [{"name": "Ada"}, {"name": "Bo"}],
            "speaker_policy": "moderator",
            "moderator": "Ada",
            "termination": [{"type": "text_mention", "value": "APPROVED"}],
            "summarizer": "Bo",
            "human_turn": "every_round",
        },
        format="json",
    ).json()["data"]
    plain = client.post("/api/chat-rooms/", {"title": "p", "task": "x", "agents": [{"name": "Ada"}]}, format="json").json()["data"]

    team = ("speaker_policy", "allow_repeated_speaker", "moderator", "termination", "summarizer", "human_turn", "selector_model")
    assert {k: created[k] for k in team} == {
        "speaker_policy": "moderator",
        "allow_repeated_speaker": False,
        "moderator": "Ada",
        "termination": [{"type": "text_mention", "value": "APPROVED"}],
        "summarizer": "Bo",
        "human_turn": "every_round",
        "selector_model": None,
    }
    assert (plain["speaker_policy"], plain["termination"], plain["moderator"], plain["human_turn"]) == ("round_robin", [], None, "never")
    ada = ChatRoom.objects.get(pk=created["id"]).agents.get(name="Ada")
    renamed = client.put(f"/api/chat-rooms/{created['id']}/agents/{ada.pk}", {"name": "Ada2"}, format="json")
    assert renamed.status_code == 200
    assert client.get(f"/api/chat-rooms/{created['id']}").json()["data"]["moderator"] == "Ada2"
    bad = client.put(f"/api/chat-rooms/{created['id']}", {"summarizer": "Nobody"}, format="json")
    assert bad.status_code == 400 and "summarizer" in bad.json()["errors"]
    cleared = client.put(f"/api/chat-rooms/{created['id']}", {"speaker_policy": "selector", "summarizer": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["data"]["summarizer"] is None
