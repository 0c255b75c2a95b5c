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
from luxx import metrics
from usage.models import UsageKind
from usage.services import LedgerEntry

logger = logging.getLogger(__name__)
model_logger = logging.getLogger("luxx.model")


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
            metrics.MODEL_ERRORS.labels(kind=metrics.model_error_kind(error.status_code, error.retryable)).inc()
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
    clock = metrics.StreamClock()
    metrics.ACTIVE_STREAMS.inc()

    async def next_batch() -> list[TurnEvent]:
        """The events of what the turn produced since the last call, the last one a
        :class:`TurnFinished` once it ended."""
        nonlocal position, outcome, finished
        batch: list[TurnEvent] = []
        if outcome is None:
            items = [await queue.get()]
            while not queue.empty():
                items.append(queue.get_nowait())
            pieces = 0
            for item in items:
                if isinstance(item, StepUpdate):
                    pieces += item.pieces
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
            if pieces:
                writer.changed(message_id)
                run.changed()
                clock.batch(pieces)
        if outcome is not None:
            # Kept in ``outcome`` first: if the request is cancelled while the final state
            # is written, the reply's end is written again rather than waited for.
            finished = await _finish(prepared, turn, outcome, position, clock)
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
        metrics.ACTIVE_STREAMS.dec()
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
            writer.finish_nowait(_final(prepared, turn, MessageStatus.INTERRUPTED, reason, clock))
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


def _final(prepared: services.PreparedTurn, turn: AgentTurn, status: str, error: str, clock: metrics.StreamClock) -> ReplyFinal:
    _log_turn(prepared, turn, status, clock)
    ledger = LedgerEntry(
        user_id=prepared.user_id,
        provider_id=prepared.spec.provider.id,
        model=prepared.spec.model,
        kind=UsageKind.CHAT,
        kind_after_first=UsageKind.TOOL_LOOP,
        calls=turn.calls,
        conversation_id=prepared.conversation_id,
        message_id=prepared.assistant_message_id,
        reservation=prepared.reservation,
    )
    return ReplyFinal(
        message_id=prepared.assistant_message_id,
        status=status,
        steps=[dict(step) for step in turn.steps],
        text=turn.text,
        usage=turn.usage,
        error=error,
        citations=prepared.citations,
        title_conversation_id=prepared.conversation_id if prepared.title_is_default else "",
        ledger=ledger,
    )


def _log_turn(prepared: services.PreparedTurn, turn: AgentTurn, status: str, clock: metrics.StreamClock) -> None:
    """One line per turn's model calls: who, which model, how it ended, tokens, time."""
    usage = turn.usage
    model_logger.info(
        "model turn %s %s",
        prepared.spec.model,
        status,
        extra={
            "fields": {
                "event": "model_call",
                "user_id": prepared.user_id,
                "provider_id": prepared.spec.provider.id,
                "model": prepared.spec.model,
                "conversation_id": prepared.conversation_id,
                "message_id": prepared.assistant_message_id,
                "status": status,
                "calls": len(turn.calls),
                "prompt_tokens": usage["prompt_tokens"],
                "completion_tokens": usage["completion_tokens"],
                "estimated": bool(usage.get("estimated")),
                "duration_ms": clock.elapsed_ms(),
            }
        },
    )


async def _finish(
    prepared: services.PreparedTurn, turn: AgentTurn, outcome: Any, position: int, clock: metrics.StreamClock
) -> TurnFinished:
    if outcome is _DONE:
        status, error = MessageStatus.COMPLETE, ""
    elif outcome is _STOP:
        status, error = MessageStatus.STOPPED, ""
    else:
        status, error = MessageStatus.ERROR, outcome.error.message
    final = _final(prepared, turn, status, error, clock)
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
