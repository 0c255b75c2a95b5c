"""The Anthropic Messages protocol, streamed (every event type) and not."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
from aiohttp import web

from fakellm.scenario import Scenario, chunked, tokenize
from fakellm.streaming import Pacer, abort, hang


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _thinking_wanted(body: dict[str, Any], scenario: Scenario) -> bool:
    return bool(scenario.thinking) and (body.get("thinking") or {}).get("type") == "enabled"


async def stream(request: web.Request, body: dict[str, Any], scenario: Scenario, text: str, prompt_tokens: int) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    pacer = Pacer(scenario)
    drop_after = scenario.fault_count("drop_after")
    hang_after = scenario.fault_count("hang_after")
    if scenario.fault == "hang":
        await hang()
    await pacer.first()
    message = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "fake-model"),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": 1},
    }
    await response.write(_event("message_start", {"type": "message_start", "message": message}))
    await response.write(_event("ping", {"type": "ping"}))
    index = 0
    output_tokens = 0
    if _thinking_wanted(body, scenario):
        await response.write(
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
            )
        )
        for piece in chunked(tokenize(scenario.thinking or ""), scenario.chunk_tokens):
            await response.write(
                _event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": piece}},
                )
            )
            output_tokens += 1
            await pacer.next()
        await response.write(
            _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": "fake-signature"}},
            )
        )
        await response.write(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    if text:
        await response.write(
            _event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
        )
        for sent, piece in enumerate(chunked(tokenize(text), scenario.chunk_tokens)):
            if drop_after is not None and sent >= drop_after:
                abort(request)
                return response
            if hang_after is not None and sent >= hang_after:
                await hang()
            await response.write(
                _event(
                    "content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}
                )
            )
            output_tokens += 1
            await pacer.next()
        await response.write(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    for call in scenario.tool_calls:
        block = {"type": "tool_use", "id": call.call_id("toolu_"), "name": call.name, "input": {}}
        await response.write(_event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block}))
        arguments = json.dumps(call.arguments, ensure_ascii=False)
        for start in range(0, len(arguments), 8):
            delta = {"type": "input_json_delta", "partial_json": arguments[start : start + 8]}
            await response.write(_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        await response.write(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
        output_tokens += 1
        index += 1
    stop_reason = scenario.finish_reason or ("tool_use" if scenario.tool_calls else "end_turn")
    usage = {"output_tokens": (scenario.usage or {}).get("completion_tokens", output_tokens)}
    await response.write(
        _event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": usage})
    )
    await response.write(_event("message_stop", {"type": "message_stop"}))
    await response.write_eof()
    return response


async def complete(body: dict[str, Any], scenario: Scenario, text: str, prompt_tokens: int) -> web.Response:
    if scenario.fault == "hang":
        await hang()
    await asyncio.sleep(scenario.ttft)
    content: list[dict[str, Any]] = []
    if _thinking_wanted(body, scenario):
        content.append({"type": "thinking", "thinking": scenario.thinking, "signature": "fake-signature"})
    if text:
        content.append({"type": "text", "text": text})
    for call in scenario.tool_calls:
        content.append({"type": "tool_use", "id": call.call_id("toolu_"), "name": call.name, "input": call.arguments})
    output_tokens = len(tokenize(text)) + len(tokenize(scenario.thinking or ""))
    return web.json_response(
        {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "fake-model"),
            "content": content,
            "stop_reason": scenario.finish_reason or ("tool_use" if scenario.tool_calls else "end_turn"),
            "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": output_tokens},
        }
    )


def error(status: int, message: str) -> web.Response:
    kind = {401: "authentication_error", 429: "rate_limit_error", 500: "api_error"}.get(status, "invalid_request_error")
    headers = {"Retry-After": "0"} if status == 429 else None
    return web.json_response({"type": "error", "error": {"type": kind, "message": message}}, status=status, headers=headers)
