"""Runs a chat room one speaker turn at a time, each turn a task on a worker.

A run is a chain of ``rooms.tasks.room_turn`` tasks, one per position (round, seat): the
task that speaks a turn closes it, moves the room to the next position and enqueues the
task of that position, all in one transaction, so the chain survives the death of any
process: a worker killed in the middle of a turn leaves its task running on a dead worker,
which ``worker.recovery`` hands back to the queue, and the next worker to claim it speaks
that turn again. Who speaks next is :func:`next_position`.

**A turn cut by a crash** is kept as ``interrupted`` with its text up to the last flush
(at most a second of it is lost), shown in the transcript but never given to the agents,
and the same speaker speaks the turn again; observers get ``message_interrupted`` for it.
So the finished turns of a run are each there exactly once: a turn is either closed and
the room past it, or open and spoken again.

**One turn at a time.** The task running a turn holds the room's lease (``run_owner``:
its worker process and a random part) from its first event to its last; the next turn's
task waits for it, so observers get every event in order, and a task given the lease of
a live holder (a duplicate) does nothing. A holder whose worker stopped beating loses the
lease to whoever asks.

Every event goes to the room's django-eventstream channel (``room-<id>``), which carries
it to observers in every web process (through Redis, or the database without Redis) and
keeps it for ``Last-Event-ID`` replay; the client that started the run reads the same
channel. Stop is a flag in the database, read every second; the turn then ends as
``stopped`` after the chunk in flight, and the room pauses before the next speaker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.translation import gettext_noop

from agents.llm import LLMError, ProviderConfig
from agents.prompts import render_system_prompt
from agents.runtime import AgentTurn, CallUsage, TurnSpec
from agents.selectors import provider_get_default
from chat.background import CUT_FIELDS, cut_reply_of
from chat.models import Message, MessageRole, MessageStatus
from luxx import metrics
from luxx.db import run_db, write_transaction
from rooms import team
from rooms.eventstream import Publisher, channel_name, send
from rooms.models import ChatRoom, HumanTurn, RoomStatus, SpeakerPolicy
from usage import services as usage_services
from usage.limits import LimitExceeded, Reservation
from usage.models import UsageKind
from usage.services import LedgerEntry, cut_replies_settle, ledger_write
from worker.pool import current_process_id
from worker.recovery import live_processes

logger = logging.getLogger(__name__)

TERMINAL_EVENTS = {"room_completed", "room_paused", "error", "human_turn_requested"}
STOP_POLL_SECONDS = 1.0
FLUSH_SECONDS = 1.0
HEARTBEAT_SECONDS = 2.0
LEASE_WAIT_SECONDS = 10.0
# Stored and sent in English, whatever language the starter used (the run is the server's,
# and the API's texts are English); the rooms page shows its translation.
NO_PROVIDER = gettext_noop("This agent has no usable model provider or model.")
# The reason a run ends when its owner's usage limits refuse its next model call.
USAGE_LIMIT = "usage_limit"

__all__ = ["TERMINAL_EVENTS", "Position", "channel_name", "next_position", "run_turn"]


@dataclass(frozen=True)
class Seat:
    id: int
    name: str
    role: str
    color: str
    model: str
    system_prompt: str
    provider: ProviderConfig | None


@dataclass(frozen=True, order=True)
class Position:
    """Where a run is: the round (from 1) and the seat that speaks next (its index in
    turn order). A round past ``max_rounds`` means the run is over."""

    round: int
    seat: int


@dataclass
class RoomState:
    id: str
    task: str
    max_rounds: int
    position: Position
    stop_requested: bool
    user_id: int
    user_name: str
    seats: list[Seat]
    transcript: list[dict[str, Any]] = field(default_factory=list)
    # How the room works as a team (rooms.team); ``team`` is False for a room that uses
    # none of it, which runs exactly as rooms did before.
    team: bool = False
    policy: str = SpeakerPolicy.ROUND_ROBIN
    allow_repeat: bool = False
    moderator: int | None = None
    summarizer: int | None = None
    termination: list[dict[str, Any]] = field(default_factory=list)
    human_turn: str = HumanTurn.NEVER
    human_request: str = ""
    user_handles: tuple[str, ...] = ()
    end_reason: str = ""
    summary_message_id: str = ""
    selected_seat: int | None = None
    started_at: datetime | None = None
    tokens: int = 0
    selector: ProviderConfig | None = None  # the selector's own provider, when the room names one
    selector_model: str = ""

    @property
    def turns_per_round(self) -> int:
        if not self.team:
            return len(self.seats)
        return team.turns_per_round(self.policy, len(self.seats))


def next_position(state: RoomState, after: Position) -> Position:
    """The position after ``after``: a round is ``turns_per_round`` turns (with round
    robin, every seat once in turn order, the seat being the position's index). Who
    speaks at a position of another policy is chosen when it comes (``_Turn._select``)."""
    if after.seat + 1 < state.turns_per_round:
        return Position(after.round, after.seat + 1)
    return Position(after.round + 1, 0)


def _seat_index(seats: list[Seat], name: str) -> int | None:
    return next((index for index, seat in enumerate(seats) if name and seat.name == name), None)


def _load_state(room_id: str) -> RoomState:
    room = ChatRoom.objects.select_related("user", "selector_provider").get(pk=room_id)
    default = provider_get_default(user=room.user)
    seats = []
    for seat in room.agents.select_related("provider", "agent__provider").order_by("turn_order", "id"):
        provider = seat.provider or (seat.agent.provider if seat.agent else None) or default
        seats.append(
            Seat(
                id=seat.pk,
                name=seat.name,
                role=seat.role,
                color=seat.color,
                model=seat.model or (provider.default_model if provider else ""),
                system_prompt=seat.system_prompt,
                provider=ProviderConfig.from_provider(provider) if provider and provider.enabled else None,
            )
        )
    transcript = []
    tokens = 0
    for m in Message.objects.filter(room=room).order_by("created_at", "id"):
        tokens += m.token_count
        if m.content and m.status not in (MessageStatus.STREAMING, MessageStatus.INTERRUPTED):
            entry = {"role": m.role, "content": m.content, "seat": m.room_agent_id, "name": m.sender_name}
            transcript.append({**entry, "id": m.pk, "round": m.round_number})
    is_team = bool(
        room.speaker_policy != SpeakerPolicy.ROUND_ROBIN or room.termination or room.summarizer or room.human_turn != HumanTurn.NEVER
    )
    return RoomState(
        id=room.pk,
        task=room.task,
        max_rounds=room.max_rounds,
        position=_position_of(room),
        stop_requested=room.stop_requested,
        user_id=room.user_id,
        user_name=room.user.nickname or room.user.username,
        seats=seats,
        transcript=transcript,
        team=is_team,
        policy=room.speaker_policy,
        allow_repeat=room.allow_repeated_speaker,
        moderator=_seat_index(seats, room.moderator) if room.speaker_policy == SpeakerPolicy.MODERATOR else None,
        summarizer=_seat_index(seats, room.summarizer),
        termination=list(room.termination or []),
        human_turn=room.human_turn,
        human_request=room.human_request,
        user_handles=tuple(h for h in (room.user.username, room.user.nickname) if h),
        end_reason=room.end_reason,
        summary_message_id=room.summary_message_id,
        selected_seat=room.selected_seat,
        started_at=room.run_started_at,
        tokens=tokens,
        selector=ProviderConfig.from_provider(room.selector_provider)
        if room.selector_provider and room.selector_provider.enabled
        else None,
        selector_model=room.selector_model,
    )


def _position_of(room: ChatRoom) -> Position:
    return Position(max(1, room.current_round), room.next_turn_index)


def owner_alive(owner: str) -> bool:
    """Whether the worker process of a lease holder still beats."""
    return bool(owner) and owner.split("#", 1)[0] in live_processes()


@dataclass(frozen=True)
class _Taken:
    interrupted: list[tuple[str, str]]  # (message id, text kept) of turns cut by a crash


def _take(room_id: str, position: Position, token: str) -> _Taken | str:
    """Take the room's lease for the turn at ``position``. Answers why not, as a word:
    ``gone`` (the room stopped running or moved past this turn: a duplicate or a late
    retry) or ``busy`` (a live holder has it). Marks the turns cut by a crash interrupted."""
    with write_transaction():
        room = ChatRoom.objects.select_for_update().filter(pk=room_id).first()
        if room is None or room.status != RoomStatus.RUNNING or _position_of(room) != position:
            return "gone"
        if room.run_owner and room.run_owner != token and owner_alive(room.run_owner):
            return "busy"
        ChatRoom.objects.filter(pk=room_id).update(run_owner=token, heartbeat_at=timezone.now())
        interrupted = turns_interrupt(room_id)
    return _Taken(interrupted)


def turns_interrupt(room_id: str) -> list[tuple[str, str]]:
    """Mark ``interrupted`` the room's turns still streaming (cut by a crash), keeping
    their text, and settle what each reserved against what it produced. Answers their
    (id, text). Call inside a transaction."""
    cut = list(Message.objects.select_for_update().filter(room_id=room_id, status=MessageStatus.STREAMING).only(*CUT_FIELDS))
    if not cut:
        return []
    Message.objects.filter(pk__in=[m.pk for m in cut]).update(status=MessageStatus.INTERRUPTED)
    cut_replies_settle([cut_reply_of(m) for m in cut])
    return [(m.pk, m.content) for m in cut]


def _release(room_id: str, token: str, **fields: Any) -> None:
    with write_transaction():
        ChatRoom.objects.filter(pk=room_id, run_owner=token).update(run_owner="", **fields)


def _save_if_owner(room_id: str, token: str, **fields: Any) -> None:
    with write_transaction():
        ChatRoom.objects.filter(pk=room_id, run_owner=token).update(**fields)


def _still_owner_and_stop(room_id: str, token: str, beat: bool) -> tuple[bool, bool]:
    """(the lease is still ours, a stop was asked for); refreshes the heartbeat if ``beat``."""
    if beat:
        with write_transaction():
            ChatRoom.objects.filter(pk=room_id, run_owner=token).update(heartbeat_at=timezone.now())
    row = ChatRoom.objects.filter(pk=room_id).values_list("run_owner", "stop_requested").first()
    if row is None:
        return False, True
    return row[0] == token, bool(row[1])


def _flush_message(message_id: str, content: str, steps: list[dict[str, Any]]) -> None:
    with write_transaction():
        Message.objects.filter(pk=message_id).update(content=content, process_steps=steps)


def _turn_fields(state: RoomState, seat: Seat, round_number: int) -> dict[str, Any]:
    """What every turn of a seat in a round records about who speaks."""
    return {
        "user_id": state.user_id,
        "room_id": state.id,
        "role": MessageRole.ASSISTANT,
        "sender_name": seat.name,
        "sender_color": seat.color,
        "round_number": round_number,
        "room_agent_id": seat.id,
        "model": seat.model,
    }


def _reserve(state: RoomState, spec: TurnSpec, prompt_tokens: int) -> Reservation:
    """Admit a model call of the room's run against its owner's usage limits (else
    LimitExceeded). Call inside a transaction."""
    from accounts.models import User

    owner = User.objects.only("id", "permission_level").get(pk=state.user_id)
    return usage_services.reserve_for_turn(
        user=owner, provider_id=spec.provider.id, model=spec.model, prompt_estimate=prompt_tokens, max_tokens=spec.max_tokens, stream=False
    )


def _reserve_call(state: RoomState, spec: TurnSpec) -> Reservation:
    """See _reserve(); for a call without a message of its own (the selector's)."""
    with write_transaction():
        return _reserve(state, spec, usage_services.prompt_estimate(spec.system_prompt, spec.messages))


def _record_call(state: RoomState, spec: TurnSpec, kind: str, calls: list[CallUsage], reservation: Reservation) -> None:
    """Record a call without a message of its own, settling its reservation."""
    entry = LedgerEntry(
        user_id=state.user_id,
        provider_id=spec.provider.id,
        model=spec.model,
        kind=kind,
        calls=calls,
        room_id=state.id,
        reservation=reservation,
    )
    with write_transaction():
        ledger_write([entry])


def _create_message(
    state: RoomState,
    seat: Seat,
    round_number: int,
    spec: TurnSpec,
    *,
    token: str = "",
    selected: int | None = None,
    kind: str = UsageKind.ROOM,
) -> tuple[str, Reservation]:
    """The turn's message, once the owner's usage limits admit the turn (else
    LimitExceeded, and nothing is written); with ``selected``, the seat chosen for the
    turn is kept on the room in the same transaction, so a turn spoken again is spoken by
    the same agent."""
    with write_transaction():
        prompt_tokens = usage_services.prompt_estimate(spec.system_prompt, spec.messages)
        reservation = _reserve(state, spec, prompt_tokens)
        # Kept for whoever finds the turn cut by a crash (turns_interrupt), to settle it.
        reserved = usage_services.reservation_data(reservation, provider_id=spec.provider.id, prompt_tokens=prompt_tokens, kind=kind)
        message = Message.objects.create(status=MessageStatus.STREAMING, usage_reserved=reserved, **_turn_fields(state, seat, round_number))
        if selected is not None:
            ChatRoom.objects.filter(pk=state.id, run_owner=token).update(selected_seat=selected)
    return message.pk, reservation


def _finish(room_id: str, token: str, *, close: Callable[[], None], fields: dict[str, Any]) -> bool:
    """Close the summary turn and complete the room, together. False when the lease was lost."""
    with write_transaction():
        if not ChatRoom.objects.select_for_update().filter(pk=room_id, run_owner=token).exists():
            return False
        close()
        ChatRoom.objects.filter(pk=room_id).update(**fields)
    return True


def _await_human(room_id: str, token: str) -> bool:
    """The room waits for its owner's message, unless it came already (False)."""
    with write_transaction():
        return bool(
            ChatRoom.objects.filter(pk=room_id, run_owner=token)
            .exclude(human_request="")
            .update(status=RoomStatus.WAITING, stop_requested=False)
        )


def _advance(
    room_id: str, token: str, following: Position, *, enqueue: bool, close: Callable[[], None], extra: dict[str, Any] | None = None
) -> bool:
    """Close the turn (``close``) and move the room to ``following``, and enqueue its
    task, together: a crash leaves either the turn open (and spoken again) or closed and
    the room past it with its next task queued. False when the lease was lost."""
    from rooms.tasks import room_turn

    with write_transaction():
        if not ChatRoom.objects.select_for_update().filter(pk=room_id, run_owner=token).exists():
            return False
        close()
        fields: dict[str, Any] = {"current_round": following.round, "next_turn_index": following.seat, "heartbeat_at": timezone.now()}
        fields.update(extra or {})
        if enqueue:
            fields["run_task_id"] = str(room_turn.enqueue(room_id, following.round, following.seat).id)
        ChatRoom.objects.filter(pk=room_id).update(**fields)
    return True


def _messages_for(state: RoomState, seat: Seat) -> list[dict[str, Any]]:
    """The task and the transcript as this agent sees it: its own turns as the assistant,
    everyone else's as user turns prefixed with the speaker's name."""
    messages: list[dict[str, Any]] = []
    for entry in state.transcript:
        if entry["role"] == MessageRole.USER and entry.get("round"):  # the room owner, speaking in the run
            messages.append({"role": "user", "content": f"[{entry['name']}]: {entry['content']}"})
        elif entry["role"] == MessageRole.USER:
            messages.append({"role": "user", "content": entry["content"]})
        elif entry["seat"] == seat.id:
            messages.append({"role": "assistant", "content": entry["content"]})
        else:
            messages.append({"role": "user", "content": f"[{entry['name']}]: {entry['content']}"})
    if not messages or messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": "Continue the discussion."})
    return messages


def _system_prompt(state: RoomState, seat: Seat) -> str:
    others = ", ".join(s.name for s in state.seats if s.id != seat.id) or "nobody else"
    base = f"You are {seat.name}" + (f", {seat.role}" if seat.role else "") + "."
    room = f"You are taking part in a discussion with {others} about this task: {state.task}\nSpeak for yourself only, briefly."
    own = render_system_prompt(seat.system_prompt, user_name=state.user_name, agent_name=seat.name, today=date.today())
    return "\n\n".join(part for part in (own, base, room, _team_prompt(state, seat)) if part)


def _team_prompt(state: RoomState, seat: Seat) -> str:
    """What an agent is told about how its room works as a team (nothing in a plain room)."""
    if not state.team:
        return ""
    parts = []
    handle = state.user_handles[0] if state.user_handles else "user"
    if state.human_turn == HumanTurn.EVERY_ROUND:
        parts.append(f"{state.user_name} (@{handle}), a person, takes part too and speaks after every round.")
    elif state.human_turn == HumanTurn.ON_MENTION:
        parts.append(f"{state.user_name}, a person, takes part too: @-mention them as @{handle} when you need their input.")
    if state.policy == SpeakerPolicy.MENTION:
        parts.append("To hand the word to someone, @-name them, for example @" + state.seats[0].name + ".")
    if state.moderator is not None:
        moderator = state.seats[state.moderator]
        if seat.id == moderator.id:
            parts.append(team.moderator_instructions([s.name for s in state.seats if s.id != moderator.id]))
        else:
            parts.append(f"{moderator.name} moderates the discussion.")
    return " ".join(parts)


@dataclass(frozen=True)
class _Spoken:
    """A turn that was closed: its message, its text, whether it failed."""

    message_id: str
    text: str
    failed: bool


async def run_turn(room_id: str, round_number: int, seat_index: int, *, opening: bool = False) -> str:
    """The task of one position of a room's run; answers what it did, as a word."""
    token = f"{current_process_id()}#{get_random_string(8)}"
    position = Position(round_number, seat_index)
    deadline = time.monotonic() + LEASE_WAIT_SECONDS
    while True:
        taken = await run_db(_take, room_id, position, token)
        if not isinstance(taken, str) or taken == "gone" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)  # the previous turn's task is sending its last events
    if isinstance(taken, str):
        logger.info("Room %s turn %s: %s, nothing to do", room_id, position, taken)
        return taken
    turn = _Turn(room_id, token)
    try:
        return await turn.run(position, opening=opening, interrupted=taken.interrupted)
    finally:
        await turn.publisher.flush()
        await run_db(_release, room_id, token)


class _Turn:
    """One task's part of a run, holding the room's lease."""

    def __init__(self, room_id: str, token: str) -> None:
        self.room_id = room_id
        self.token = token
        self.publisher = Publisher(room_id)
        self.stopped = False
        self.lost = False

    async def publish(self, event_type: str, data: dict[str, Any]) -> None:
        await self.publisher.publish(event_type, {"type": event_type, **data})

    async def run(self, position: Position, *, opening: bool, interrupted: list[tuple[str, str]]) -> str:
        state = await run_db(_load_state, self.room_id)
        if opening:
            await self.publish("room_started", {"room_id": state.id, "task": state.task})
        for message_id, text in interrupted:
            await self.publish("message_interrupted", {"id": message_id, "room_id": state.id, "content": text})
        if position.seat >= state.turns_per_round:  # paused after a round's last speaker (older runs)
            await self.publish("round_end", {"round": position.round})
            position = Position(position.round + 1, 0)
            await run_db(_save_if_owner, self.room_id, self.token, current_round=position.round, next_turn_index=0)
        reason = self._ending(state, position)
        if reason is not None:
            return await self._end(state, position, reason)
        if state.human_request:
            return await self._wait_for_human(state, position)
        if state.stop_requested:
            return await self._pause(position)
        seat_index, choice = position.seat, None
        if state.policy != SpeakerPolicy.ROUND_ROBIN:
            if state.selected_seat is not None and state.selected_seat < len(state.seats):
                seat_index = state.selected_seat  # chosen before this turn was cut: the same speaker again
            else:
                try:
                    choice = await self._select(state)
                except LimitExceeded as refused:
                    return await self._end(state, position, USAGE_LIMIT, notice=refused.luxx_message)
                if choice.end or choice.seat is None:
                    conclusion = next((e["id"] for e in reversed(state.transcript) if e["seat"] is not None), "")
                    return await self._end(state, position, "moderator", conclusion=conclusion)
                seat_index = choice.seat
        if position.seat == 0:
            await run_db(_save_if_owner, self.room_id, self.token, current_round=position.round, next_turn_index=0)
            await self.publish("round_start", {"round": position.round, "max_rounds": state.max_rounds})
        if choice is not None:
            await self.publish(
                "speaker_selected",
                {
                    "room_id": state.id,
                    "round": position.round,
                    "agent": state.seats[seat_index].name,
                    "policy": state.policy,
                    "reason": choice.reason,
                    "reason_code": choice.code,
                    "fallback": choice.fallback,
                },
            )
        following = next_position(state, position)
        seat = state.seats[seat_index]

        def commit(close: Callable[[], None], spoken: _Spoken, stopped: bool) -> bool:
            extra = self._after_turn(state, position, following, seat, spoken)
            return _advance(self.room_id, self.token, following, enqueue=not stopped, close=close, extra=extra)

        selected = seat_index if state.policy != SpeakerPolicy.ROUND_ROBIN else None
        try:
            spoken = await self._speak(
                state, seat, position.round, _messages_for(state, seat), _system_prompt(state, seat), commit, selected
            )
        except LimitExceeded as refused:
            return await self._end(state, position, USAGE_LIMIT, notice=refused.luxx_message)
        if spoken is None:
            return "lost"
        if following.round != position.round:
            await self.publish("round_end", {"round": position.round})
        if self.stopped:
            return await self._pause(following, round_number=position.round)
        return "spoken"

    def _ending(self, state: RoomState, position: Position) -> str | None:
        """Which condition ends the run before the turn at ``position``, if any."""
        if state.end_reason:
            return state.end_reason
        if position.round > state.max_rounds:
            return "max_rounds"
        if not state.termination:
            return None
        spoken = [entry for entry in state.transcript if entry.get("round")]
        elapsed = (timezone.now() - state.started_at).total_seconds() if state.started_at else 0.0
        facts = team.Facts(
            rounds_done=position.round - 1,
            messages=len(spoken),
            tokens=state.tokens,
            elapsed_seconds=elapsed,
            last_text=spoken[-1]["content"] if spoken else "",
        )
        return team.fired_condition(state.termination, facts)

    def _after_turn(self, state: RoomState, position: Position, following: Position, seat: Seat, spoken: _Spoken) -> dict[str, Any]:
        """What a team room records with the close of a turn: the choice made for it is
        spent, and whether the room owner speaks next."""
        if not state.team:
            return {}
        fields: dict[str, Any] = {"selected_seat": None}
        if state.human_turn == HumanTurn.EVERY_ROUND and following.round != position.round and following.round <= state.max_rounds:
            fields["human_request"] = "every_round"
        elif state.human_turn == HumanTurn.ON_MENTION and not spoken.failed and team.mentions_human(spoken.text, state.user_handles):
            fields["human_request"] = f"on_mention:{seat.name}"
        return fields

    async def _select(self, state: RoomState) -> team.Choice:
        """Who speaks at this position, by the room's policy (never round robin here)."""
        names = [seat.name for seat in state.seats]
        agents_spoken = [entry for entry in state.transcript if entry["seat"] is not None]
        seat_ids = [seat.id for seat in state.seats]
        previous = next((seat_ids.index(e["seat"]) for e in reversed(agents_spoken) if e["seat"] in seat_ids), None)
        if state.policy == SpeakerPolicy.MODERATOR and state.moderator is not None:
            moderator = state.moderator
            members = [seat_ids.index(e["seat"]) for e in agents_spoken if e["seat"] in seat_ids and e["seat"] != seat_ids[moderator]]
            last_text = agents_spoken[-1]["content"] if agents_spoken and previous == moderator else ""
            return team.choose_by_moderator(moderator, previous, last_text, members[-1] if members else None, names, state.allow_repeat)
        if state.policy == SpeakerPolicy.MENTION:
            last = next((e for e in reversed(state.transcript) if e.get("round")), None)
            if last is None:
                first = team.next_in_turn_order(len(names), previous)
                return team.Choice(first, "Nobody was @-named: next in turn order.", "no_mention", fallback=True)
            return team.choose_by_mention(last["content"], last["name"], names, previous, state.allow_repeat)
        return await self._ask_selector(state, names, previous)

    async def _ask_selector(self, state: RoomState, names: list[str], previous: int | None) -> team.Choice:
        """Ask the selector model (the room's, or else the first agent's provider and model) for the next speaker."""
        first = state.seats[0]
        provider = state.selector or first.provider
        model = state.selector_model or (state.selector.default_model if state.selector else first.model)
        candidates = [n for i, n in enumerate(names) if i != previous or state.allow_repeat or len(names) == 1]
        if provider is None or not model:
            fallback = team.next_in_turn_order(len(names), previous)
            return team.Choice(fallback, "No selector model: next in turn order.", "no_selector", fallback=True)
        prompt = team.selector_prompt(
            state.task,
            [(seat.name, seat.role) for seat in state.seats],
            [(e["name"], e["content"]) for e in state.transcript if e.get("round")],
            candidates,
        )
        spec = TurnSpec(provider=provider, model=model, messages=[{"role": "user", "content": prompt}], max_tokens=64)
        reservation = await run_db(_reserve_call, state, spec)  # LimitExceeded ends the run (run())
        turn = AgentTurn(spec)
        try:
            async for _ in turn.run():
                pass
        except LLMError as error:
            why = f"The selector failed ({error.message}): next in turn order."
            return team.Choice(team.next_in_turn_order(len(names), previous), why, "selector_failed", fallback=True)
        finally:
            await run_db(_record_call, state, spec, UsageKind.SELECTOR, turn.calls, reservation)
        return team.choose_from_answer(turn.text, names, previous, state.allow_repeat)

    async def _wait_for_human(self, state: RoomState, position: Position) -> str:
        """The room owner's turn: the room waits (status ``waiting``, no task) until their
        message comes (``rooms.services.room_human_message``), which queues the next turn."""
        if not await run_db(_await_human, self.room_id, self.token):
            return await self.run(position, opening=False, interrupted=[])  # their message came already
        kind, _, agent = state.human_request.partition(":")
        await self.publish("human_turn_requested", {"room_id": state.id, "round": position.round, "reason": kind, "agent": agent or None})
        return "waiting"

    async def _end(self, state: RoomState, position: Position, reason: str, *, conclusion: str = "", notice: str = "") -> str:
        """Complete the run: in a team room, after the summarizer's closing summary, with
        the reason in ``room_completed``. The status first, then the event: a client told
        the room completed finds it so; the lease is held until the event is out.

        ``notice``: the words of a usage limit that ended the run (``usage_limit``) or
        refused the summary, sent as ``room_completed``'s ``message``."""
        if not state.team and reason == "max_rounds":
            final = {"current_round": state.max_rounds, "next_turn_index": len(state.seats)}
            await run_db(_save_if_owner, self.room_id, self.token, status=RoomStatus.COMPLETED, stop_requested=False, **final)
            await self.publish("room_completed", {"room_id": state.id, "total_rounds": state.max_rounds})
            return "completed"
        rounds = min(state.max_rounds, position.round - 1 if position.seat == 0 else position.round)
        done: dict[str, Any] = {
            "status": RoomStatus.COMPLETED,
            "stop_requested": False,
            "current_round": max(rounds, 0),
            "human_request": "",
            "selected_seat": None,
            "end_reason": reason,
        }
        summary_id = state.summary_message_id or conclusion
        spoken: _Spoken | None = None
        # Over a usage limit, no more model calls: no summary.
        if state.summarizer is not None and not state.summary_message_id and reason != USAGE_LIMIT:
            await run_db(_save_if_owner, self.room_id, self.token, end_reason=reason)  # a turn spoken again ends the same way
            seat = state.seats[state.summarizer]
            messages = _messages_for(state, seat)
            if messages[-1]["content"] == "Continue the discussion.":
                messages[-1] = {"role": "user", "content": team.SUMMARY_REQUEST}
            else:
                messages[-1] = {"role": "user", "content": f"{messages[-1]['content']}\n\n{team.SUMMARY_REQUEST}"}

            def commit(close: Callable[[], None], spoken: _Spoken, stopped: bool) -> bool:
                return _finish(
                    self.room_id, self.token, close=close, fields={**done, "summary_message_id": "" if spoken.failed else spoken.message_id}
                )

            try:
                spoken = await self._speak(
                    state, seat, max(rounds, 1), messages, _system_prompt(state, seat), commit, None, UsageKind.SUMMARY
                )
            except LimitExceeded as refused:
                notice = refused.luxx_message
            else:
                if spoken is None:
                    return "lost"
                summary_id = "" if spoken.failed else spoken.message_id
                if summary_id:
                    await self.publish(
                        "summary", {"room_id": state.id, "message_id": summary_id, "agent": seat.name, "content": spoken.text}
                    )
        if spoken is None:
            await run_db(_save_if_owner, self.room_id, self.token, summary_message_id=summary_id, **done)
        payload = {"room_id": state.id, "total_rounds": max(rounds, 0), "reason": reason, "summary_message_id": summary_id or None}
        if notice:
            payload["message"] = notice
        await self.publish("room_completed", payload)
        return "completed"

    async def _pause(self, position: Position, *, round_number: int | None = None) -> str:
        """Pause with ``position`` next; ``room_paused`` names the round of the last turn.
        The status first, then the event, as for completion."""
        await run_db(
            _save_if_owner,
            self.room_id,
            self.token,
            status=RoomStatus.PAUSED,
            stop_requested=False,
            current_round=position.round,
            next_turn_index=position.seat,
        )
        await self.publish("room_paused", {"room_id": self.room_id, "round": round_number or position.round})
        return "paused"

    async def _watch(self) -> None:
        """Keep the heartbeat fresh and read the stop flag, also while the model has not
        sent a token yet; notice a lease taken over (this worker was thought dead)."""
        last_beat = time.monotonic()
        while not self.stopped and not self.lost:
            await asyncio.sleep(STOP_POLL_SECONDS)
            beat = time.monotonic() - last_beat >= HEARTBEAT_SECONDS
            if beat:
                last_beat = time.monotonic()
            try:
                owner, stop = await run_db(_still_owner_and_stop, self.room_id, self.token, beat)
            except Exception:  # a failed poll is retried at the next tick
                logger.warning("Room %s: could not poll its stop flag", self.room_id, exc_info=True)
                continue
            self.lost = not owner
            self.stopped = self.stopped or stop

    async def _fail(
        self,
        state: RoomState,
        seat: Seat,
        round_number: int,
        commit: Callable[[Callable[[], None], _Spoken, bool], bool],
        error: str,
    ) -> _Spoken | None:
        """A turn that cannot be spoken (no provider): recorded as failed, and the room
        moves on. None when the lease was lost."""
        failed: list[str] = []

        def record_failed() -> None:
            message = Message.objects.create(status=MessageStatus.ERROR, error=error, **_turn_fields(state, seat, round_number))
            failed.append(message.id)

        def commit_failed() -> bool:
            return commit(record_failed, _Spoken("", "", True), False)

        if not await run_db(commit_failed):
            return None
        await self.publish("agent_error", {"agent": seat.name, "error": error, "message_id": failed[0]})
        return _Spoken(failed[0], "", True)

    async def _speak(
        self,
        state: RoomState,
        seat: Seat,
        round_number: int,
        messages: list[dict[str, Any]],
        system_prompt: str,
        commit: Callable[[Callable[[], None], _Spoken, bool], bool],
        selected: int | None,
        kind: str = UsageKind.ROOM,
    ) -> _Spoken | None:
        """A turn of ``seat``, watched for stop and lease; None when the lease was lost on
        the way. ``commit`` closes the turn (the callable it is given) together with what
        the room records after it. Sets ``stopped`` when a stop came in the middle of it."""
        watcher = asyncio.get_running_loop().create_task(self._watch(), name=f"room-{self.room_id}-watch")
        try:
            return await self._stream(state, seat, round_number, messages, system_prompt, commit, selected, kind)
        finally:
            watcher.cancel()
            with suppress(asyncio.CancelledError):
                await watcher

    async def _stream(
        self,
        state: RoomState,
        seat: Seat,
        round_number: int,
        messages: list[dict[str, Any]],
        system_prompt: str,
        commit: Callable[[Callable[[], None], _Spoken, bool], bool],
        selected: int | None,
        kind: str,
    ) -> _Spoken | None:
        if seat.provider is None or not seat.model:
            return await self._fail(state, seat, round_number, commit, NO_PROVIDER)
        spec = TurnSpec(
            provider=seat.provider,
            model=seat.model,
            messages=messages,
            system_prompt=system_prompt,
            max_tokens=min(2048, seat.provider.max_tokens),
        )
        # A usage limit that refuses the turn (LimitExceeded) ends the run: see run().
        message_id, reservation = await run_db(
            _create_message, state, seat, round_number, spec, token=self.token, selected=selected, kind=kind
        )
        await self.publish(
            "message_start",
            {
                "id": message_id,
                "room_id": state.id,
                "role": "assistant",
                "sender_name": seat.name,
                "sender_color": seat.color,
                "round_number": round_number,
            },
        )
        turn = AgentTurn(spec)
        accumulated = ""
        error: LLMError | None = None
        next_flush = time.monotonic() + FLUSH_SECONDS
        stream = turn.run()
        try:
            async for update in stream:
                if update.step["type"] != "text":
                    continue
                piece = update.piece["content"]
                accumulated += piece
                await self.publish("message_chunk", {"id": message_id, "content": piece, "accumulated": accumulated})
                if time.monotonic() >= next_flush:
                    # At most a second of text is lost if the process dies mid-turn.
                    next_flush = time.monotonic() + FLUSH_SECONDS
                    await run_db(_flush_message, message_id, accumulated, list(turn.steps))
                if self.stopped or self.lost:
                    break
        except LLMError as failure:
            error = failure
            metrics.MODEL_ERRORS.labels(kind=metrics.model_error_kind(failure.status_code, failure.retryable)).inc()
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        if self.lost:
            return None
        status = MessageStatus.ERROR if error else MessageStatus.STOPPED if self.stopped else MessageStatus.COMPLETE
        usage = turn.usage

        def close() -> None:
            fields: dict[str, Any] = {"status": status, "content": accumulated, "process_steps": list(turn.steps)}
            if error is not None:
                fields["error"] = error.message
            if usage:
                fields["usage"] = usage
                fields["token_count"] = usage.get("total_tokens", 0)
            Message.objects.filter(pk=message_id).update(**fields)
            ledger_write(
                [
                    LedgerEntry(
                        user_id=state.user_id,
                        provider_id=spec.provider.id,
                        model=spec.model,
                        kind=kind,
                        calls=turn.calls,
                        room_id=state.id,
                        message_id=message_id,
                        reservation=reservation,
                    )
                ]
            )

        spoken = _Spoken(message_id, accumulated, error is not None)
        stopped = self.stopped

        def commit_turn() -> bool:
            return commit(close, spoken, stopped)

        # A stopped turn closes the room's position too; the room pauses before the next speaker.
        if not await run_db(commit_turn):
            return None
        if error is not None:
            await self.publish("agent_error", {"agent": seat.name, "error": error.message, "message_id": message_id})
            return spoken
        await self.publish("message_end", {"id": message_id, "content": accumulated, "token_count": usage["total_tokens"]})
        await self.publish(
            "message",
            {
                "id": message_id,
                "conversation_id": None,
                "room_id": state.id,
                "role": "assistant",
                "content": accumulated,
                "text": accumulated,
                "sender_name": seat.name,
                "sender_color": seat.color,
                "round_number": round_number,
            },
        )
        return spoken


def run_given_up(room_id: str, cause: str) -> None:
    """A turn whose task gave up: the room ends in ``error``, the cut turn is kept as
    interrupted, and observers get ``error``."""
    with transaction.atomic():
        updated = ChatRoom.objects.filter(pk=room_id, status=RoomStatus.RUNNING).update(
            status=RoomStatus.ERROR, run_owner="", stop_requested=False
        )
        turns_interrupt(room_id)
    if updated:
        import orjson

        data = {"type": "error", "content": f"The room stopped because of an error: {cause}."}
        send(channel_name(room_id), "error", orjson.dumps(data).decode())
