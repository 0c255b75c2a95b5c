"""Anthropic Messages API, with extended thinking and tool use."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import orjson

from agents.llm.base import (
    ChatRequest,
    LLMError,
    LLMEvent,
    PingResult,
    ProviderConfig,
    StreamEnd,
    TextDelta,
    ThinkingDelta,
    ThinkingSignature,
    ToolCallRequest,
    UsageReport,
    append_event,
)
from agents.llm.clients import client_for
from agents.llm.errors import translate_error
from agents.llm.sse import sse_data_batches
from agents.llm.transport import response_chunks

_MIN_THINKING_BUDGET = 1024


def build_params(request: ChatRequest) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": request.model,
        "messages": to_anthropic_messages(request.messages),
        "max_tokens": request.max_tokens,
        "stream": True,
    }
    if request.system:
        params["system"] = request.system
    if request.tools:
        params["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in request.tools]
    if request.thinking:
        budget = max(_MIN_THINKING_BUDGET, request.thinking_budget)
        params["max_tokens"] = max(request.max_tokens, budget + 1)
        params["thinking"] = {"type": "enabled", "budget_tokens": budget}
    elif request.temperature is not None:
        # This SDK no longer types ``temperature``, but the Messages API (and compatible
        # servers) still take it. Anthropic's range is 0..1; Luxx accepts OpenAI's 0..2.
        params["extra_body"] = {"temperature": min(request.temperature, 1.0)}
    return params


def to_anthropic_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-shaped history to Anthropic's: tool calls become ``tool_use`` blocks, tool
    results ``tool_result`` blocks in a user turn, and consecutive same-role turns merge."""
    converted: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        if role == "tool":
            block = {"type": "tool_result", "tool_use_id": message["tool_call_id"], "content": message["content"]}
            _append(converted, "user", [block])
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            for thought in message.get("thinking_blocks") or ():
                blocks.append({"type": "thinking", "thinking": thought["thinking"], "signature": thought["signature"]})
            if message.get("content"):
                blocks.append({"type": "text", "text": message["content"]})
            for call in message.get("tool_calls") or ():
                try:
                    arguments = json.loads(call["arguments"] or "{}")
                except json.JSONDecodeError:
                    arguments = {}
                blocks.append({"type": "tool_use", "id": call["id"], "name": call["name"], "input": arguments})
            if blocks:
                _append(converted, "assistant", blocks)
        elif role == "user" and message.get("images"):
            # Images first, then the text, as Anthropic recommends; no empty text block.
            blocks = [
                {"type": "image", "source": {"type": "base64", "media_type": image["media_type"], "data": image["data"]}}
                for image in message["images"]
            ]
            if message.get("content"):
                blocks.append({"type": "text", "text": message["content"]})
            _append(converted, "user", blocks)
        elif role == "user":
            _append(converted, "user", [{"type": "text", "text": message.get("content") or ""}])
    return converted


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": list(blocks)})


async def stream_chat(config: ProviderConfig, request: ChatRequest) -> AsyncIterator[list[LLMEvent]]:
    client = client_for(config)
    params = build_params(request)
    try:
        async with client.messages.with_streaming_response.create(**params) as response:
            async for batch in _parse(sse_data_batches(response_chunks(response.http_response))):
                yield batch
    except anthropic.APIError as error:
        raise translate_error(error) from None
    except LLMError:
        raise
    except Exception as error:  # transport errors when a stream drops
        raise translate_error(error) from None


class _Blocks:
    """What an Anthropic message stream has said so far, beyond its deltas."""

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}
        self.prompt_tokens = 0
        self.cached_tokens = 0
        self.completion_tokens = 0
        self.stop_reason = ""
        self.finished = False

    def read(self, event: dict[str, Any], events: list[LLMEvent]) -> None:
        """Add one stream event's Luxx events to ``events``."""
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event["delta"]
            delta_type = delta.get("type")
            if delta_type == "text_delta":
                append_event(events, TextDelta(delta["text"]))
            elif delta_type == "thinking_delta":
                self.blocks[event["index"]]["thinking"] += delta["thinking"]
                append_event(events, ThinkingDelta(delta["thinking"]))
            elif delta_type == "input_json_delta":
                self.blocks[event["index"]]["json"] += delta.get("partial_json", "")
            elif delta_type == "signature_delta":
                self.blocks[event["index"]]["signature"] += delta.get("signature", "")
        elif kind == "content_block_start":
            block = event["content_block"]
            self.blocks[event["index"]] = {
                "type": block.get("type"),
                "id": block.get("id", ""),
                "name": block.get("name", ""),
                "json": "",
                "thinking": "",
                "signature": "",
            }
            if block.get("type") == "text" and block.get("text"):
                append_event(events, TextDelta(block["text"]))
        elif kind == "content_block_stop":
            block = self.blocks.get(event["index"])
            if block and block["type"] == "tool_use":
                events.append(ToolCallRequest(id=block["id"], name=block["name"], arguments=block["json"] or "{}"))
            elif block and block["type"] == "thinking" and block["signature"]:
                events.append(ThinkingSignature(thinking=block["thinking"], signature=block["signature"]))
        elif kind == "message_start":
            usage = event.get("message", {}).get("usage") or {}
            # Anthropic counts cache reads and writes apart from input_tokens; Luxx's
            # prompt_tokens is every input token, of which cached_tokens were read.
            self.cached_tokens = int(usage.get("cache_read_input_tokens") or 0)
            cache_writes = int(usage.get("cache_creation_input_tokens") or 0)
            self.prompt_tokens = int(usage.get("input_tokens") or 0) + self.cached_tokens + cache_writes
            self.completion_tokens = int(usage.get("output_tokens") or 0)
        elif kind == "message_delta":
            self.stop_reason = (event.get("delta") or {}).get("stop_reason") or self.stop_reason
            usage = event.get("usage") or {}
            self.completion_tokens = int(usage.get("output_tokens") or self.completion_tokens)
        elif kind == "message_stop":
            self.finished = True
        elif kind == "error":
            error = event.get("error") or {}
            raise LLMError(f"The model provider reported an error: {error.get('message', 'unknown error')}")


async def _parse(batches: AsyncIterator[list[bytes]]) -> AsyncIterator[list[LLMEvent]]:
    state = _Blocks()
    async for lines in batches:
        events: list[LLMEvent] = []
        for data in lines:
            if data:
                state.read(orjson.loads(data), events)
                if state.finished:
                    break
        if events:
            yield events
        if state.finished:
            break
    if not state.finished:
        raise LLMError("The model's stream ended before it finished (the connection dropped).", retryable=True)
    stop = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}.get(state.stop_reason, state.stop_reason or "stop")
    yield [UsageReport(state.prompt_tokens, state.completion_tokens, state.cached_tokens), StreamEnd(stop)]


async def ping(config: ProviderConfig) -> PingResult:
    client = client_for(config).with_options(max_retries=0)
    try:
        raw = await client.messages.with_raw_response.create(
            model=config.default_model or "claude-3-5-haiku-latest", max_tokens=1, messages=[{"role": "user", "content": "ping"}]
        )
        return PingResult(status_code=raw.status_code, success=True, response_body=raw.http_response.text[:500])
    except anthropic.APIStatusError as error:
        return PingResult(status_code=error.status_code, success=False, response_body=error.response.text[:500])
    except anthropic.APIError as error:
        return PingResult(status_code=0, success=False, response_body=translate_error(error).message)
