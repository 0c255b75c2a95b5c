"""The OpenAI Chat Completions protocol, streamed and not."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import orjson
from aiohttp import web

from fakellm.scenario import Scenario, chunked, tokenize
from fakellm.streaming import Pacer, abort, hang


def _chunk(base: dict[str, Any], delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
    body = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
    return b"data: " + orjson.dumps(body) + b"\n\n"


def usage_for(scenario: Scenario, prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    if scenario.usage:
        return dict(scenario.usage)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}


async def stream(request: web.Request, body: dict[str, Any], scenario: Scenario, text: str, prompt_tokens: int) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    model = body.get("model", "fake-model")
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    pacer = Pacer(scenario)
    drop_after = scenario.fault_count("drop_after")
    hang_after = scenario.fault_count("hang_after")
    if scenario.fault == "hang":
        await hang()
    await pacer.first()
    await response.write(_chunk(base, {"role": "assistant", "content": ""}))
    for piece in chunked(tokenize(scenario.thinking or ""), scenario.chunk_tokens):
        await response.write(_chunk(base, {"reasoning_content": piece}))
        await pacer.next()
    for sent, piece in enumerate(chunked(tokenize(text), scenario.chunk_tokens)):
        if drop_after is not None and sent >= drop_after:
            abort(request)
            return response
        if hang_after is not None and sent >= hang_after:
            await hang()
        await response.write(_chunk(base, {"content": piece}))
        await pacer.next()
    for index, call in enumerate(scenario.tool_calls):
        arguments = json.dumps(call.arguments, ensure_ascii=False)
        head = {"index": index, "id": call.call_id("call_"), "type": "function", "function": {"name": call.name, "arguments": ""}}
        await response.write(_chunk(base, {"tool_calls": [head]}))
        for start in range(0, len(arguments), 8):
            await response.write(_chunk(base, {"tool_calls": [{"index": index, "function": {"arguments": arguments[start : start + 8]}}]}))
        await pacer.next()
    finish = scenario.finish_reason or ("tool_calls" if scenario.tool_calls else "stop")
    await response.write(_chunk(base, {}, finish))
    completion_tokens = len(tokenize(text)) + len(tokenize(scenario.thinking or "")) + len(scenario.tool_calls)
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = usage_for(scenario, prompt_tokens, completion_tokens)
        await response.write(b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def complete(body: dict[str, Any], scenario: Scenario, text: str, prompt_tokens: int) -> web.Response:
    if scenario.fault == "hang":
        await hang()
    await asyncio.sleep(scenario.ttft)
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if scenario.thinking:
        message["reasoning_content"] = scenario.thinking
    if scenario.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.call_id("call_"),
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
            }
            for call in scenario.tool_calls
        ]
    completion_tokens = len(tokenize(text)) + len(tokenize(scenario.thinking or ""))
    return web.json_response(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": scenario.finish_reason or ("tool_calls" if scenario.tool_calls else "stop"),
                }
            ],
            "usage": usage_for(scenario, prompt_tokens, completion_tokens),
        }
    )


def error(status: int, message: str) -> web.Response:
    kind = {401: "invalid_request_error", 429: "rate_limit_exceeded", 500: "server_error"}.get(status, "invalid_request_error")
    headers = {"Retry-After": "0"} if status == 429 else None
    return web.json_response({"error": {"message": message, "type": kind, "code": kind}}, status=status, headers=headers)
