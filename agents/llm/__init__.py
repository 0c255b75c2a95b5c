"""The LLM adapters: the only place that imports the ``openai`` and ``anthropic`` SDKs."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings

from agents.llm import anthropic_adapter, openai_adapter
from agents.llm.base import (
    ChatRequest,
    LLMError,
    LLMEvent,
    PingResult,
    ProviderConfig,
    RetryNotice,
    StreamEnd,
    TextDelta,
    ThinkingDelta,
    ThinkingSignature,
    ToolCallRequest,
    ToolSpec,
    UsageReport,
)
from agents.llm.toolnames import ToolNameMap

__all__ = [
    "ChatRequest",
    "LLMError",
    "LLMEvent",
    "PingResult",
    "ProviderConfig",
    "RetryNotice",
    "StreamEnd",
    "TextDelta",
    "ThinkingDelta",
    "ThinkingSignature",
    "ToolCallRequest",
    "ToolSpec",
    "UsageReport",
    "provider_ping",
    "stream_chat",
]


def _adapter(config: ProviderConfig) -> Any:
    return anthropic_adapter if config.provider_type == "anthropic" else openai_adapter


def _backoff(attempt: int, error: LLMError) -> float:
    if error.retry_after is not None:
        return error.retry_after
    return min(8.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)


async def stream_chat(config: ProviderConfig, request: ChatRequest) -> AsyncIterator[list[LLMEvent]]:
    """Stream one model call as batches of Luxx events (one batch per network read, its
    consecutive deltas merged).

    A call that fails before its first event (a 429, a 5xx, a refused or dropped
    connection) is made again up to LUXX_LLM_MAX_RETRIES times with back-off, each retry
    announced by a :class:`RetryNotice`; once an event has arrived, a failure ends the
    call. The first event must come within LUXX_LLM_FIRST_TOKEN_TIMEOUT, retries
    included; later gaps are bounded by LUXX_LLM_IDLE_TIMEOUT through the client's read
    timeout. Tool names the APIs would refuse (``mcp.<server>.<tool>``) travel as
    stand-ins, see agents.llm.toolnames."""
    names = ToolNameMap.for_request(request)
    if names:
        request = names.outgoing(request)
    max_attempts = 1 + int(settings.LUXX_LLM_MAX_RETRIES)
    budget = float(settings.LUXX_LLM_FIRST_TOKEN_TIMEOUT)
    deadline = time.monotonic() + budget
    for attempt in range(1, max_attempts + 1):
        stream = _adapter(config).stream_chat(config, request).__aiter__()
        try:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    first = await stream.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise LLMError(f"The model did not start answering within {budget:g} seconds.") from None
            except LLMError as error:
                delay = _backoff(attempt, error)
                if not error.retryable or attempt == max_attempts or time.monotonic() + delay >= deadline:
                    raise
                yield [RetryNotice(attempt=attempt + 1, max_attempts=max_attempts, delay_seconds=round(delay, 2), reason=error.message)]
                await asyncio.sleep(delay)
                continue
            if not names:
                yield first
                async for batch in stream:
                    yield batch
                return
            yield [names.incoming(event) for event in first]
            async for batch in stream:
                yield [names.incoming(event) for event in batch]
            return
        finally:
            await stream.aclose()  # type: ignore[attr-defined]


async def provider_ping(config: ProviderConfig) -> PingResult:
    """One tiny real request through a provider."""
    return await _adapter(config).ping(config)
