"""Runs a chat room: rounds of turns, each agent speaking once per round in turn order.

A run is a task on the server's event loop, not tied to the request that started it: the
starting client's SSE response is one subscriber among any number of observers, so a
disconnect does not stop the discussion. Every event goes to this process's subscribers
and to the room's django-eventstream channel (``room-<id>``), which carries it to
observers in any server process (Redis) and keeps it for ``Last-Event-ID`` replay.
Stop is a flag in the database plus a stop-bus signal; the run checks it after every
chunk, so a pause loses nothing but the chunk in flight.

Progress is saved as it happens: the round and the next speaker at every turn boundary,
the speaker's partial text once a second, and a heartbeat every few seconds, by which a
room whose server process died is told from one that runs (see
``services.room_recover_if_stale``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_noop

from agents.cancellation import stop_bus
from agents.llm import LLMError, ProviderConfig
from agents.prompts import render_system_prompt
from agents.runtime import AgentTurn, TurnSpec
from agents.selectors import provider_get_default
from chat.models import Message, MessageRole, MessageStatus
from luxx.db import run_db, write_transaction
from rooms import eventstream
from rooms.eventstream import channel_name
from rooms.models import ChatRoom, RoomStatus

logger = logging.getLogger(__name__)

TERMINAL_EVENTS = {"room_completed", "room_paused", "error"}
STOP_POLL_SECONDS = 1.0
FLUSH_SECONDS = 1.0
HEARTBEAT_SECONDS = 5.0
# Stored and sent in English, whatever language the starter used (the run is the server's,
# and the API's texts are English); the rooms page shows its translation.
NO_PROVIDER = gettext_noop("This agent has no usable model provider or model.")

__all__ = ["TERMINAL_EVENTS", "channel_name", "hub", "run_start"]


@dataclass(frozen=True)
class Seat:
    id: int
    name: str
    role: str
    color: str
    model: str
    system_prompt: str
    provider: ProviderConfig | None


@dataclass
class RoomState:
    id: str
    task: str
    max_rounds: int
    current_round: int
    next_turn_index: int
    user_id: int
    user_name: str
    seats: list[Seat]
    transcript: list[dict[str, Any]] = field(default_factory=list)


class RoomHub:
    """This process's subscribers of each room, and the runs it owns."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[asyncio.Queue[tuple[str, dict[str, Any]]]]] = {}
        self.runs: dict[str, asyncio.Task[None]] = {}
        self.stop_flags: dict[str, bool] = {}

    def subscribe(self, room_id: str) -> asyncio.Queue[tuple[str, dict[str, Any]]]:
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.subscribers.setdefault(room_id, set()).add(queue)
        return queue

    def unsubscribe(self, room_id: str, queue: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        self.subscribers.get(room_id, set()).discard(queue)

    async def publish(self, room_id: str, event_type: str, data: dict[str, Any]) -> None:
        # Stored (and sent to other processes) first, so that when a subscriber here sees
        # an event, observers can already replay it.
        try:
            await eventstream.publish(room_id, event_type, data)
        except Exception:  # observers missing an event must not stop the discussion
            logger.exception("Could not publish %s for room %s", event_type, room_id)
        for queue in list(self.subscribers.get(room_id, ())):
            queue.put_nowait((event_type, data))


hub = RoomHub()


def _load_state(room_id: str) -> RoomState:
    room = ChatRoom.objects.select_related("user").get(pk=room_id)
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
    transcript = [
        {"role": m.role, "content": m.content, "seat": m.room_agent_id, "name": m.sender_name}
        for m in Message.objects.filter(room=room)
        .exclude(status__in=[MessageStatus.STREAMING, MessageStatus.INTERRUPTED])
        .order_by("created_at", "id")
        if m.content
    ]
    return RoomState(
        id=room.pk,
        task=room.task,
        max_rounds=room.max_rounds,
        current_round=room.current_round,
        next_turn_index=room.next_turn_index,
        user_id=room.user_id,
        user_name=room.user.nickname or room.user.username,
        seats=seats,
        transcript=transcript,
    )


def _save_progress(room_id: str, **fields: Any) -> None:
    with write_transaction():
        ChatRoom.objects.filter(pk=room_id).update(**fields)


def _stop_requested(room_id: str) -> bool:
    return bool(ChatRoom.objects.filter(pk=room_id).values_list("stop_requested", flat=True).first())


def _beat(room_id: str) -> bool:
    """Refresh the heartbeat; answer whether a stop was asked for."""
    with write_transaction():
        ChatRoom.objects.filter(pk=room_id).update(heartbeat_at=timezone.now())
    return _stop_requested(room_id)


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


def _create_message(state: RoomState, seat: Seat, round_number: int) -> str:
    with write_transaction():
        message = Message.objects.create(status=MessageStatus.STREAMING, **_turn_fields(state, seat, round_number))
    return message.pk


def _finish_message(
    message_id: str,
    *,
    room_id: str,
    next_turn_index: int,
    status: str,
    content: str,
    steps: list[dict[str, Any]],
    usage: dict[str, int] | None,
    error: str = "",
) -> None:
    """Close a turn and move the room to the next speaker, together: a crash leaves either
    the turn open (and it is spoken again) or closed and the room past it."""
    fields: dict[str, Any] = {"status": status, "content": content, "process_steps": steps, "error": error}
    if usage:
        fields["usage"] = usage
        fields["token_count"] = usage.get("total_tokens", 0)
    with write_transaction():
        Message.objects.filter(pk=message_id).update(**fields)
        ChatRoom.objects.filter(pk=room_id).update(next_turn_index=next_turn_index)


def _record_failed_turn(state: RoomState, seat: Seat, round_number: int, *, next_turn_index: int, error: str) -> None:
    """Save a turn that failed before any model call as an error turn, and move the room
    to the next speaker, together (as :func:`_finish_message` does)."""
    with write_transaction():
        Message.objects.create(status=MessageStatus.ERROR, error=error, **_turn_fields(state, seat, round_number))
        ChatRoom.objects.filter(pk=state.id).update(next_turn_index=next_turn_index)


def _messages_for(state: RoomState, seat: Seat) -> list[dict[str, Any]]:
    """The task and the transcript as this agent sees it: its own turns as the assistant,
    everyone else's as user turns prefixed with the speaker's name."""
    messages: list[dict[str, Any]] = []
    for entry in state.transcript:
        if entry["role"] == MessageRole.USER:
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
    return "\n\n".join(part for part in (own, base, room) if part)


class RoomRun:
    def __init__(self, room_id: str):
        self.room_id = room_id
        self.stopped = False

    def request_stop(self) -> None:
        self.stopped = True

    async def publish(self, event_type: str, data: dict[str, Any]) -> None:
        await hub.publish(self.room_id, event_type, {"type": event_type, **data})

    async def run(self) -> None:
        stop_key = f"room:{self.room_id}"
        await stop_bus.ensure_listening()
        stop_bus.register(stop_key, self.request_stop)
        watcher = asyncio.get_running_loop().create_task(self._watch(), name=f"room-{self.room_id}-watch")
        try:
            await self._run()
        except Exception as error:  # a crashed run must end as an error, never stay "running"
            logger.exception("Room %s failed", self.room_id)
            await run_db(_save_progress, self.room_id, status=RoomStatus.ERROR)
            await self.publish("error", {"content": f"The room stopped because of an error: {type(error).__name__}."})
        finally:
            watcher.cancel()
            with suppress(asyncio.CancelledError):
                await watcher
            stop_bus.unregister(stop_key)
            hub.runs.pop(self.room_id, None)

    async def _watch(self) -> None:
        """Keep the heartbeat fresh, and pick up a stop flag whose stop-bus signal never
        reached this process; also while the model has not sent a token yet."""
        last_beat = 0.0
        while not self.stopped:
            await asyncio.sleep(STOP_POLL_SECONDS)
            try:
                if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                    last_beat = time.monotonic()
                    stop = await run_db(_beat, self.room_id)
                else:
                    stop = await run_db(_stop_requested, self.room_id)
            except Exception:  # a failed poll is retried at the next tick
                logger.warning("Room %s: could not poll its stop flag", self.room_id, exc_info=True)
                continue
            if stop:
                self.stopped = True

    async def _run(self) -> None:
        state = await run_db(_load_state, self.room_id)
        await self.publish("room_started", {"room_id": state.id, "task": state.task})
        round_number = max(1, state.current_round)
        turn = state.next_turn_index
        while round_number <= state.max_rounds:
            if turn == 0:
                await run_db(_save_progress, state.id, current_round=round_number, next_turn_index=0)
                await self.publish("round_start", {"round": round_number, "max_rounds": state.max_rounds})
            for index in range(turn, len(state.seats)):
                if self.stopped or await run_db(_stop_requested, state.id):
                    await self._pause(round_number, index)
                    return
                finished = await self._speak(state, index, round_number)
                if not finished:
                    await self._pause(round_number, index + 1)
                    return
            await self.publish("round_end", {"round": round_number})
            round_number += 1
            turn = 0
            if round_number <= state.max_rounds:
                await run_db(_save_progress, state.id, current_round=round_number, next_turn_index=0)
        await run_db(_save_progress, state.id, status=RoomStatus.COMPLETED, stop_requested=False)
        await self.publish("room_completed", {"room_id": state.id, "total_rounds": state.max_rounds})

    async def _pause(self, round_number: int, next_index: int) -> None:
        await run_db(_save_progress, self.room_id, status=RoomStatus.PAUSED, stop_requested=False, next_turn_index=next_index)
        await self.publish("room_paused", {"room_id": self.room_id, "round": round_number})

    async def _speak(self, state: RoomState, index: int, round_number: int) -> bool:
        """The turn of the seat at ``index``. False when a stop came in the middle of it."""
        seat = state.seats[index]
        if seat.provider is None or not seat.model:
            await run_db(_record_failed_turn, state, seat, round_number, next_turn_index=index + 1, error=NO_PROVIDER)
            await self.publish("agent_error", {"agent": seat.name, "error": NO_PROVIDER})
            return True
        message_id = await run_db(_create_message, state, seat, round_number)
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
        spec = TurnSpec(
            provider=seat.provider,
            model=seat.model,
            messages=_messages_for(state, seat),
            system_prompt=_system_prompt(state, seat),
            max_tokens=min(2048, seat.provider.max_tokens),
        )
        turn = AgentTurn(spec)
        accumulated = ""
        stopped = False
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
                if self.stopped:
                    stopped = True
                    break
        except LLMError as error:
            await run_db(
                _finish_message,
                message_id,
                room_id=state.id,
                next_turn_index=index + 1,
                status=MessageStatus.ERROR,
                content=accumulated,
                steps=turn.steps,
                usage=turn.usage,
                error=error.message,
            )
            await self.publish("agent_error", {"agent": seat.name, "error": error.message})
            return True
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        status = MessageStatus.STOPPED if stopped else MessageStatus.COMPLETE
        await run_db(
            _finish_message,
            message_id,
            room_id=state.id,
            next_turn_index=index + 1,
            status=status,
            content=accumulated,
            steps=turn.steps,
            usage=turn.usage,
        )
        state.transcript.append({"role": MessageRole.ASSISTANT, "content": accumulated, "seat": seat.id, "name": seat.name})
        token_count = turn.usage["total_tokens"]
        await self.publish("message_end", {"id": message_id, "content": accumulated, "token_count": token_count})
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
        return not stopped


def run_start(room_id: str) -> asyncio.Task[None]:
    """Start the room's run on the running loop (the caller has claimed the room)."""
    task = asyncio.get_running_loop().create_task(RoomRun(room_id).run(), name=f"room-{room_id}")
    hub.runs[room_id] = task
    return task
