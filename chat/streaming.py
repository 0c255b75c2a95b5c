"""The streaming service of a chat turn: run the agent turn, persist as it goes, and
hand the caller ready-to-send events.

The model runs in a producer task that feeds a queue; the consumer (the HTTP response)
drains the queue. That split lets a stop request, a heartbeat or a client disconnect
end the turn at once, and lets deltas that piled up while the client was slow go out
as one frame. The reply is written by the process's shared writer (chat/progress.py):
about once a second for every open reply together, never per token, and its final
state before the ``done`` event goes out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

from django.conf import settings

from agents.cancellation import stop_bus
from agents.llm import LLMError, RetryNotice
from agents.runtime import AgentTurn, StepUpdate
from chat import replies, services
from chat.events import Heartbeat, Retrying, StepEvent, TurnEvent, TurnFinished
from chat.models import MessageStatus
from chat.progress import ReplyFinal, reply_writer

logger = logging.getLogger(__name__)


_STOP = object()
_DONE = object()
_FOLLOWED = object()  # a follower in another process asked for the reply (chat/replies.py)


class _Failed:
    def __init__(self, error: LLMError):
        self.error = error


async def run_turn(prepared: services.PreparedTurn) -> AsyncGenerator[list[TurnEvent], None]:
    """Yield batches of events until the turn ends with exactly one :class:`TurnFinished`.

    The reply does not depend on its consumer: when the consumer goes away (the client
    disconnected, so the generator is closed or its request cancelled), the turn goes on
    to its end inside the same request, sending nothing, and other clients can follow it
    (chat/replies.py). With ``LUXX_STOP_ON_DISCONNECT`` it ends there instead, saved as
    ``interrupted``.
    """
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def on_retry(notice: RetryNotice) -> None:
        queue.put_nowait(Retrying(notice.attempt, notice.max_attempts, notice.delay_seconds, notice.reason))

    turn = AgentTurn(prepared.spec, on_retry=on_retry)
    message_id = prepared.assistant_message_id

    async def produce() -> None:
        try:
            async for update in turn.run():
                queue.put_nowait(update)
            queue.put_nowait(_DONE)
        except LLMError as error:
            queue.put_nowait(_Failed(error))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.exception("Chat turn %s failed", message_id)
            queue.put_nowait(_Failed(LLMError(f"The reply failed: {type(error).__name__}.")))

    producer = asyncio.create_task(produce(), name=f"turn-{message_id}")
    heartbeat = asyncio.create_task(_heartbeats(queue), name=f"heartbeat-{message_id}")

    def on_stop() -> None:
        producer.cancel()
        queue.put_nowait(_STOP)

    writer = reply_writer()
    writer.open(message_id, lambda: ([dict(step) for step in turn.steps], turn.text))
    run = replies.run_open(message_id=message_id, user_id=prepared.user_id, steps=turn.steps)
    stop_bus.register(message_id, on_stop)
    remote = replies.RemoteFollowers(message_id) if settings.REDIS_URL else None
    if remote is not None:
        stop_bus.register(replies.follow_key(message_id), lambda: queue.put_nowait(_FOLLOWED))
    position = 0
    outcome: Any = None
    finished: TurnFinished | None = None

    async def next_batch() -> list[TurnEvent]:
        """The events of what the turn produced since the last call, the last one a
        :class:`TurnFinished` once it ended."""
        nonlocal position, outcome, finished
        batch: list[TurnEvent] = []
        if outcome is None:
            items = [await queue.get()]
            while not queue.empty():
                items.append(queue.get_nowait())
            changed = False
            for item in items:
                if isinstance(item, StepUpdate):
                    changed = True
                    piece = item.piece
                    position += len(piece["content"]) if piece["type"] in ("text", "thinking") else 1
                    _append_piece(batch, piece, position)
                elif isinstance(item, Heartbeat):
                    if not batch:
                        batch.append(item)
                elif isinstance(item, Retrying):
                    batch.append(item)
                elif item is _FOLLOWED:
                    if remote is not None:
                        remote.asked()
                elif outcome is None:
                    outcome = item
            if changed:
                writer.changed(message_id)
                run.changed()
        if outcome is not None:
            # Kept in ``outcome`` first: if the request is cancelled while the final state
            # is written, the reply's end is written again rather than waited for.
            finished = await _finish(prepared, turn, outcome, position)
            replies.run_close(run, finished)
            if remote is not None:
                await remote.publish(turn.steps, batch, finished)
            batch.append(finished)
        elif remote is not None and remote.active:
            await remote.publish(turn.steps, batch)
        return batch

    try:
        while finished is None:
            batch = await next_batch()
            if batch:
                yield batch
    except (asyncio.CancelledError, GeneratorExit) as gone:
        if finished is None and not settings.LUXX_STOP_ON_DISCONNECT:
            # The client went away: the reply goes on without it, in this request.
            # The request's task was cancelled (here, or while a chunk was being sent):
            # the turn's own awaits must not see that cancellation again.
            task = asyncio.current_task()
            if task is not None and (isinstance(gone, asyncio.CancelledError) or task.cancelling()):
                task.uncancel()
            while finished is None:
                await next_batch()
        raise
    finally:
        stop_bus.unregister(message_id)
        if remote is not None:
            stop_bus.unregister(replies.follow_key(message_id))
        heartbeat.cancel()
        if not producer.done():
            producer.cancel()
        if finished is None:
            # Cut before its end (the client went away with LUXX_STOP_ON_DISCONNECT, or
            # the server ended the request): keep what was produced (the writer commits it).
            reason = "The client disconnected."
            writer.finish_nowait(_final(prepared, turn, MessageStatus.INTERRUPTED, reason))
            replies.run_close(run, TurnFinished(MessageStatus.INTERRUPTED, message_id, turn.usage, "", (), position))


def _append_piece(batch: list[TurnEvent], piece: dict[str, Any], position: int) -> None:
    """Merge consecutive pieces of the same text/thinking step into one event."""
    if batch:
        last = batch[-1]
        if (
            isinstance(last, StepEvent)
            and last.piece["id"] == piece["id"]
            and piece["type"] in ("text", "thinking")
            and "content" in last.piece
        ):
            batch[-1] = StepEvent({**last.piece, "content": last.piece["content"] + piece["content"]}, position)
            return
    batch.append(StepEvent(piece, position))


async def _heartbeats(queue: asyncio.Queue[Any]) -> None:
    interval = float(settings.LUXX_SSE_HEARTBEAT_SECONDS)
    while True:
        await asyncio.sleep(interval)
        queue.put_nowait(Heartbeat())


def _final(prepared: services.PreparedTurn, turn: AgentTurn, status: str, error: str = "") -> ReplyFinal:
    return ReplyFinal(
        message_id=prepared.assistant_message_id,
        status=status,
        steps=[dict(step) for step in turn.steps],
        text=turn.text,
        usage=turn.usage,
        error=error,
        citations=prepared.citations,
        title_conversation_id=prepared.conversation_id if prepared.title_is_default else "",
    )


async def _finish(prepared: services.PreparedTurn, turn: AgentTurn, outcome: Any, position: int) -> TurnFinished:
    if outcome is _DONE:
        status, error = MessageStatus.COMPLETE, ""
    elif outcome is _STOP:
        status, error = MessageStatus.STOPPED, ""
    else:
        status, error = MessageStatus.ERROR, outcome.error.message
    final = _final(prepared, turn, status, error)
    await reply_writer().finish(final)
    return TurnFinished(
        status=status,
        message_id=prepared.assistant_message_id,
        usage=final.usage or {},
        error=error,
        citations=tuple(prepared.citations),
        position=position,
    )


async def collect_turn(prepared: services.PreparedTurn, on_event: Callable[[TurnEvent], None] | None = None) -> TurnFinished:
    """Run a turn to its end without streaming (the non-streaming endpoint)."""
    final: TurnFinished | None = None
    async for batch in run_turn(prepared):
        for event in batch:
            if on_event is not None:
                on_event(event)
            if isinstance(event, TurnFinished):
                final = event
    assert final is not None
    return final
