"""Writes on chat rooms and their agents."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from rest_framework import exceptions

from agents.models import Agent, Provider
from chat.models import Message, MessageRole
from luxx.api import Conflict, NotFound
from rooms import eventstream
from rooms.models import ChatRoom, RoomAgent, RoomStatus, SpeakerPolicy
from rooms.orchestrator import owner_alive, turns_interrupt
from usage.limits import limits_check
from worker.recovery import process_of

TASK_SENDER = "User"
TASK_COLOR = "#10b981"
# A turn refreshes the room's heartbeat every 2 s; between turns the next one may wait in
# the queue. A running room is lost when it has not moved for this long, its lease holder
# is dead and its next turn's task is neither queued nor running on a live worker.
STALE_AFTER = timedelta(seconds=30)
RELEASE_WAIT_SECONDS = 5.0
# What a reset clears of a team run's state.
RUN_CLEARED: dict[str, Any] = {
    "human_request": "",
    "end_reason": "",
    "summary_message_id": "",
    "selected_seat": None,
    "run_started_at": None,
}


def room_get(*, user: Any, room_id: str) -> ChatRoom:
    room = ChatRoom.objects.owned_by(user).filter(pk=room_id).first()
    if room is None:
        raise NotFound("Chat room not found.")
    return room


def room_agent_get(*, room: ChatRoom, room_agent_id: int) -> RoomAgent:
    seat = room.agents.filter(pk=room_agent_id).first()
    if seat is None:
        raise NotFound("Room agent not found.")
    return seat


def _invalid(field: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({field: [message]})


def _seat_fields(*, user: Any, spec: dict[str, Any], field: str) -> dict[str, Any]:
    """A seat from a template agent (with overrides) or inline; ``field`` names it in errors."""
    fields: dict[str, Any] = {}
    if spec.get("agent_id") is not None:
        template = Agent.objects.owned_by(user).filter(pk=spec["agent_id"]).first()
        if template is None:
            raise _invalid(f"{field}.agent_id", f"Unknown agent {spec['agent_id']}.")
        fields = {
            "agent": template,
            "name": template.name,
            "role": template.role,
            "provider": template.provider,
            "model": template.model,
            "system_prompt": template.system_prompt,
            "color": template.color,
        }
    for name in ("name", "role", "model", "system_prompt", "color"):
        if spec.get(name) not in (None, ""):
            fields[name] = spec[name]
    if spec.get("provider_id") is not None:
        provider = Provider.objects.usable_by(user).filter(pk=spec["provider_id"]).first()
        if provider is None:
            raise _invalid(f"{field}.provider_id", f"Unknown provider {spec['provider_id']}.")
        fields["provider"] = provider
    if not fields.get("name"):
        raise _invalid(f"{field}.name", "An inline agent needs a name.")
    return fields


TEAM_FIELDS = (
    "speaker_policy",
    "allow_repeated_speaker",
    "selector_provider_id",
    "selector_model",
    "moderator",
    "termination",
    "summarizer",
    "human_turn",
)


def _check_team(*, policy: str, moderator: str, summarizer: str, names: list[str]) -> None:
    """The moderator and the summarizer are agents of the room; the moderator policy has one,
    and someone else to moderate."""
    if moderator and moderator not in names:
        raise _invalid("moderator", f"{moderator} is not an agent of this room.")
    if summarizer and summarizer not in names:
        raise _invalid("summarizer", f"{summarizer} is not an agent of this room.")
    if policy == SpeakerPolicy.MODERATOR:
        if not moderator:
            raise _invalid("moderator", "The moderator policy needs a moderator: name one of the room's agents.")
        if len(names) < 2:
            raise _invalid("agents", "A moderated room needs at least one agent besides the moderator.")


def _team_values(data: dict[str, Any], *, user: Any) -> dict[str, Any]:
    values = {name: data[name] for name in TEAM_FIELDS if name in data}
    for name in ("moderator", "summarizer"):
        if name in values:
            values[name] = values[name] or ""
    provider_id = values.pop("selector_provider_id", None)
    if provider_id is not None:
        provider = Provider.objects.usable_by(user).filter(pk=provider_id).first()
        if provider is None:
            raise _invalid("selector_provider_id", f"Unknown provider {provider_id}.")
        values["selector_provider"] = provider
    elif "selector_provider_id" in data:
        values["selector_provider"] = None
    return values


def room_create(*, user: Any, title: str, task: str, max_rounds: int, agents: list[dict[str, Any]], **team: Any) -> ChatRoom:
    """A room with its agents; ``team`` holds the optional TEAM_FIELDS (see rooms.team)."""
    if not agents:
        raise _invalid("agents", "A room needs at least one agent.")
    seats = [_seat_fields(user=user, spec=spec, field=f"agents[{position}]") for position, spec in enumerate(agents)]
    values = _team_values(team, user=user)
    _check_team(
        policy=values.get("speaker_policy", SpeakerPolicy.ROUND_ROBIN),
        moderator=values.get("moderator", ""),
        summarizer=values.get("summarizer", ""),
        names=[seat["name"] for seat in seats],
    )
    with transaction.atomic():
        room = ChatRoom.objects.create(user=user, title=title, task=task, max_rounds=max_rounds, **values)
        RoomAgent.objects.bulk_create([RoomAgent(room=room, turn_order=position, **seat) for position, seat in enumerate(seats)])
    return room


def _turn_task_alive(task_id: str) -> bool:
    """Whether the task of a run's turn is queued, or running on a worker that beats."""
    from rooms.tasks import room_turn

    if not task_id:
        return False
    try:
        result = room_turn.get_result(task_id)
    except Exception:  # unknown (pruned), or a backend that keeps no results
        return False
    if result.status == TaskResultStatus.READY:
        return True
    return result.status == TaskResultStatus.RUNNING and bool(result.worker_ids) and owner_alive(process_of(result.worker_ids[-1]))


def _is_stale(room: ChatRoom) -> bool:
    if room.status != RoomStatus.RUNNING:
        return False
    if room.heartbeat_at is not None and timezone.now() - room.heartbeat_at <= STALE_AFTER:
        return False
    return not owner_alive(room.run_owner) and not _turn_task_alive(room.run_task_id)


def room_recover_if_stale(*, room: ChatRoom) -> ChatRoom:
    """A room left ``running`` by a run that is gone (its turn's task lost, or a version
    of Luxx that ran rooms in the server process) is paused, and the turn it was streaming
    is marked interrupted (its text up to the last flush is kept). The next start resumes
    with the interrupted speaker, who speaks again."""
    if not _is_stale(room):
        return room
    with transaction.atomic():
        recovered = ChatRoom.objects.filter(pk=room.pk, status=RoomStatus.RUNNING, heartbeat_at=room.heartbeat_at).update(
            status=RoomStatus.PAUSED, stop_requested=False, run_owner=""
        )
        if recovered:
            turns_interrupt(room.pk)
    room.refresh_from_db()
    return room


def _wait_for_the_last_turn(room: ChatRoom) -> ChatRoom:
    """A run that just paused or completed may still be sending its last events for a
    moment, holding the room: wait for it (briefly), so a start or reset comes after them."""
    deadline = time.monotonic() + RELEASE_WAIT_SECONDS
    while room.status != RoomStatus.RUNNING and room.run_owner and owner_alive(room.run_owner) and time.monotonic() < deadline:
        time.sleep(0.05)
        room.refresh_from_db()
    return room


def _ensure_not_running(room: ChatRoom) -> None:
    room_recover_if_stale(room=room)
    _wait_for_the_last_turn(room)
    if room.status == RoomStatus.RUNNING:
        raise Conflict("The room is running: stop it first.")


# The statuses a client may set, each with the statuses it may be set from: back to idle
# (run again from where it is), or a paused room closed as completed. Setting the current
# status is a no-op; running is entered by /start only, paused by /stop.
STATUS_TRANSITIONS: dict[str, set[str]] = {
    RoomStatus.IDLE: {RoomStatus.PAUSED, RoomStatus.COMPLETED, RoomStatus.ERROR},
    RoomStatus.COMPLETED: {RoomStatus.PAUSED},
}


def room_update(*, room: ChatRoom, data: dict[str, Any]) -> ChatRoom:
    """Change a room that is not running. Setting ``status`` follows STATUS_TRANSITIONS."""
    _ensure_not_running(room)
    target = data.get("status")
    if target is not None and target != room.status and room.status not in STATUS_TRANSITIONS.get(target, set()):
        if target == RoomStatus.RUNNING:
            raise _invalid("status", "Start a room with POST /start, not by setting its status.")
        raise _invalid("status", f"A {room.status} room cannot be set to {target}.")
    data = {name: value for name, value in data.items() if name != "selector_provider_id"} | _team_values(data, user=room.user)
    _check_team(
        policy=data.get("speaker_policy", room.speaker_policy),
        moderator=data.get("moderator", room.moderator),
        summarizer=data.get("summarizer", room.summarizer),
        names=list(room.agents.values_list("name", flat=True)),
    )
    for name, value in data.items():
        setattr(room, name, value)
    room.save()
    return room


def room_delete(*, room: ChatRoom) -> None:
    _ensure_not_running(room)
    room.delete()


def room_reset(*, room: ChatRoom) -> ChatRoom:
    """Delete a room's turns and rounds, then announce ``room_reset`` to its observers.

    The update skips a running room, as a start's claim does, so a start that slips in
    between the check and the delete makes this a conflict, not a run losing its turns.
    """
    _ensure_not_running(room)
    with transaction.atomic():
        reset = (
            ChatRoom.objects.filter(pk=room.pk)
            .exclude(status=RoomStatus.RUNNING)
            .update(status=RoomStatus.IDLE, current_round=0, next_turn_index=0, stop_requested=False, **RUN_CLEARED)
        )
        if not reset:
            raise Conflict("The room is running: stop it first.")
        Message.objects.filter(room=room).delete()
        # After the commit: an observer that reloads /messages on the event finds them gone.
        # robust: the reset stands even if the observers cannot be told (they reload on
        # their next stream-reset or room_started).
        transaction.on_commit(partial(eventstream.publish_reset, room.pk), robust=True)
    room.refresh_from_db()
    return room


def room_agent_add(*, user: Any, room: ChatRoom, spec: dict[str, Any]) -> RoomAgent:
    _ensure_not_running(room)
    fields = _seat_fields(user=user, spec=spec, field="agent")
    last = room.agents.order_by("-turn_order").values_list("turn_order", flat=True).first()
    return RoomAgent.objects.create(room=room, turn_order=(last + 1) if last is not None else 0, **fields)


def room_agent_update(*, room: ChatRoom, seat: RoomAgent, data: dict[str, Any]) -> RoomAgent:
    """Change a seat; a renamed moderator or summarizer stays one."""
    _ensure_not_running(room)
    old_name = seat.name
    with transaction.atomic():
        for name, value in data.items():
            setattr(seat, name, value)
        seat.save()
        if seat.name != old_name:
            for role in ("moderator", "summarizer"):
                ChatRoom.objects.filter(pk=room.pk, **{role: old_name}).update(**{role: seat.name})
    return seat


def room_agent_remove(*, room: ChatRoom, seat: RoomAgent) -> None:
    """Remove a seat; a removed summarizer is no longer one (a moderated room then needs a new moderator)."""
    _ensure_not_running(room)
    with transaction.atomic():
        seat.delete()
        for role in ("moderator", "summarizer"):
            if not room.agents.filter(name=seat.name).exists():
                ChatRoom.objects.filter(pk=room.pk, **{role: seat.name}).update(**{role: ""})


def room_claim_for_run(*, room_id: str) -> ChatRoom:
    """Mark a room running and queue the task of its next turn, atomically: a second start
    while it runs is a conflict. Starting a completed room needs a reset first; an idle
    room gets its task message. The run goes on on a worker (``rooms.tasks.room_turn``)."""
    from rooms.tasks import room_turn

    _wait_for_the_last_turn(ChatRoom.objects.get(pk=room_id))
    with transaction.atomic():
        room = room_recover_if_stale(room=ChatRoom.objects.select_for_update().get(pk=room_id))
        if room.status == RoomStatus.RUNNING:
            raise Conflict("The room is already running.")
        if room.status == RoomStatus.COMPLETED:
            raise Conflict("The room has completed: reset it to run it again.")
        if room.status == RoomStatus.WAITING:
            raise Conflict("The room is waiting for your message: send it (POST /messages), or stop the room.")
        names = list(room.agents.values_list("name", flat=True))
        if not names:
            raise exceptions.ValidationError({"agents": ["The room has no agents."]})
        _check_team(policy=room.speaker_policy, moderator=room.moderator, summarizer=room.summarizer, names=names)
        limits_check(user=room.user)  # the same 429 as a chat request's
        now = timezone.now()
        claimed = (
            ChatRoom.objects.filter(pk=room.pk)
            .exclude(status=RoomStatus.RUNNING)
            .update(status=RoomStatus.RUNNING, stop_requested=False, heartbeat_at=now, run_owner="", run_started_at=now)
        )
        if not claimed:
            raise Conflict("The room is already running.")
        first = room_turn.enqueue(room.pk, max(1, room.current_round), room.next_turn_index, opening=True)
        ChatRoom.objects.filter(pk=room.pk).update(run_task_id=str(first.id))
        _ensure_task_message(room)
    room.refresh_from_db()
    return room


def _ensure_task_message(room: ChatRoom) -> None:
    """The task opens the transcript, as the room's first user message (round 0)."""
    if not Message.objects.filter(room=room, role=MessageRole.USER, round_number=0).exists():
        Message.objects.create(
            user=room.user,
            room=room,
            role=MessageRole.USER,
            content=room.task,
            sender_name=TASK_SENDER,
            sender_color=TASK_COLOR,
            round_number=0,
        )


def room_human_message(*, room: ChatRoom, content: str) -> Message:
    """The room owner speaks: the message joins the transcript, seen by every later
    speaker, and observers get ``human_message``. A room waiting for it (``human_turn``)
    runs on: the next turn's task is queued in the same transaction, after the event, so
    the event comes before the next turn's. In any other state the message is only added
    (a running room's next speakers see it; a paused one's when it resumes)."""
    from rooms.tasks import room_turn

    user = room.user
    with transaction.atomic():
        room = ChatRoom.objects.select_for_update().get(pk=room.pk)
        _ensure_task_message(room)
        message = Message.objects.create(
            user=user,
            room=room,
            role=MessageRole.USER,
            content=content,
            sender_name=user.nickname or user.username,
            sender_color=TASK_COLOR,
            round_number=max(1, room.current_round),
        )
        fields: dict[str, Any] = {}
        if room.human_request:
            fields["human_request"] = ""
        if room.status == RoomStatus.WAITING:
            following = room_turn.enqueue(room.pk, max(1, room.current_round), room.next_turn_index)
            fields.update(status=RoomStatus.RUNNING, heartbeat_at=timezone.now(), run_task_id=str(following.id), stop_requested=False)
        if fields:
            ChatRoom.objects.filter(pk=room.pk).update(**fields)
        data = {
            "room_id": room.pk,
            "id": message.pk,
            "role": MessageRole.USER.value,
            "content": content,
            "sender_name": message.sender_name,
            "sender_color": message.sender_color,
            "round_number": message.round_number,
        }
        eventstream.send(*eventstream.event_args(room.pk, "human_message", {"type": "human_message", **data}))
    return message


def room_request_stop(*, room: ChatRoom) -> str:
    """Flag a running room to pause after the current chunk; the run, on whichever worker,
    reads the flag within a second. Answers the status: ``stopping``, or ``paused`` when
    the run was already gone."""
    if room.status == RoomStatus.WAITING:
        # No turn is in flight: the room pauses at once (its owner's turn comes again on resume).
        with transaction.atomic():
            paused = ChatRoom.objects.filter(pk=room.pk, status=RoomStatus.WAITING).update(status=RoomStatus.PAUSED, stop_requested=False)
            if paused:
                data = {"type": "room_paused", "room_id": room.pk, "round": max(1, room.current_round)}
                eventstream.send(*eventstream.event_args(room.pk, "room_paused", data))
        if paused:
            return RoomStatus.PAUSED
        room.refresh_from_db()
    was_running = room.status == RoomStatus.RUNNING
    room = room_recover_if_stale(room=room)
    if was_running and room.status == RoomStatus.PAUSED:
        return RoomStatus.PAUSED
    if room.status != RoomStatus.RUNNING:
        raise Conflict(f"The room is not running (status {room.status}).")
    ChatRoom.objects.filter(pk=room.pk).update(stop_requested=True)
    return "stopping"
