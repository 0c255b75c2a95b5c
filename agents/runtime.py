"""One agent turn: the model loop with tool calls, yielding process steps as they grow.

This is the only caller of the LLM adapters. Chat conversations and chat rooms both run
their replies through :class:`AgentTurn`; they persist and encode what it yields.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from agents import llm
from agents.llm import ChatRequest, ProviderConfig, ToolSpec
from luxx.text import estimate_tokens
from toolbox.registry import Tool, ToolContext, ToolOutcome, registry, render_result, tool_execute

Step = dict[str, Any]


@dataclass(slots=True)
class TurnSpec:
    provider: ProviderConfig
    model: str
    messages: list[dict[str, Any]]
    system_prompt: str = ""
    temperature: float | None = None
    max_tokens: int = 2048
    thinking: bool = False
    tools: list[Tool] = field(default_factory=list)
    tool_context: ToolContext | None = None
    max_iterations: int = 0

    def iterations(self) -> int:
        return self.max_iterations or int(settings.LUXX_AGENT_MAX_ITERATIONS)


@dataclass(frozen=True, slots=True)
class CallUsage:
    """The tokens of one model call of a turn; ``estimated`` when the provider reported
    none (a stopped or cut call, or a server that never reports usage)."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class StepUpdate:
    """A step was created or grew. ``piece`` is what a client appends: for ``thinking`` and
    ``text`` steps the new content only; ``tool_call``/``tool_result`` steps come whole."""

    step: Step
    piece: Step
    created: bool
    pieces: int = 1  # the model's deltas in ``piece`` (about one per token)


class AgentTurn:
    """Runs one reply. After (or during) :meth:`run`, ``steps`` holds the full process
    steps, ``usage`` the summed token usage of every model call of the turn.

    ``on_retry`` hears of each retry of a model call before its first token."""

    def __init__(self, spec: TurnSpec, *, on_retry: Callable[[llm.RetryNotice], None] | None = None):
        self.spec = spec
        self.on_retry = on_retry
        self.steps: list[Step] = []
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.finish_reason = ""
        self._calls: list[CallUsage] = []
        # What the model call in progress would cost, until the provider reports its
        # usage: a stopped or cut call is charged this estimate.
        self._unreported_prompt = 0
        self._unreported_output: list[str] = []
        self._estimated = False

    @property
    def usage(self) -> dict[str, Any]:
        output = estimate_tokens("".join(self._unreported_output))
        prompt = self.prompt_tokens + self._unreported_prompt
        completion = self.completion_tokens + output
        usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        if self._estimated or self._unreported_prompt or output:
            usage["estimated"] = True
        return usage

    @property
    def calls(self) -> list[CallUsage]:
        """Every model call of the turn so far, the one in progress (estimated) included."""
        output = "".join(self._unreported_output)
        if self._unreported_prompt or output:
            return [*self._calls, CallUsage(self._unreported_prompt, estimate_tokens(output), 0, True)]
        return list(self._calls)

    @property
    def text(self) -> str:
        return "".join(step["content"] for step in self.steps if step["type"] == "text")

    def _new_step(self, kind: str, **fields: Any) -> Step:
        index = len(self.steps)
        step: Step = {"id": f"step-{index}", "index": index, "type": kind, **fields}
        self.steps.append(step)
        return step

    async def run(self) -> AsyncIterator[StepUpdate]:
        spec = self.spec
        messages = list(spec.messages)
        offered = {tool.name: tool for tool in spec.tools}
        iterations = spec.iterations()
        for iteration in range(iterations):
            # On the last allowed iteration no tools are offered, so the model must answer.
            tools = [ToolSpec(t.name, t.description, t.parameters) for t in spec.tools] if iteration < iterations - 1 else []
            request = ChatRequest(
                model=spec.model,
                messages=messages,
                system=spec.system_prompt,
                tools=tools,
                temperature=spec.temperature,
                max_tokens=spec.max_tokens,
                thinking=spec.thinking,
            )
            current: Step | None = None
            text_parts: list[str] = []
            calls: list[llm.ToolCallRequest] = []
            signatures: list[dict[str, str]] = []
            self._unreported_prompt = _prompt_estimate(request)
            self._unreported_output = []
            async for batch in llm.stream_chat(spec.provider, request):
                for event in batch:
                    if isinstance(event, (llm.TextDelta, llm.ThinkingDelta)):
                        self._unreported_output.append(event.text)
                        kind = "text" if isinstance(event, llm.TextDelta) else "thinking"
                        if kind == "text":
                            text_parts.append(event.text)
                        if current is None or current["type"] != kind:
                            current = self._new_step(kind, content=event.text)
                            yield StepUpdate(current, dict(current), True, event.pieces)
                        else:
                            current["content"] += event.text
                            yield StepUpdate(
                                current,
                                {"id": current["id"], "index": current["index"], "type": kind, "content": event.text},
                                False,
                                event.pieces,
                            )
                    elif isinstance(event, llm.ToolCallRequest):
                        calls.append(event)
                        current = None
                    elif isinstance(event, llm.ThinkingSignature):
                        signatures.append({"thinking": event.thinking, "signature": event.signature})
                    elif isinstance(event, llm.UsageReport):
                        self.prompt_tokens += event.prompt_tokens
                        self.completion_tokens += event.completion_tokens
                        self._calls.append(CallUsage(event.prompt_tokens, event.completion_tokens, event.cached_tokens))
                        self._unreported_prompt, self._unreported_output = 0, []
                    elif isinstance(event, llm.RetryNotice):
                        if self.on_retry is not None:
                            self.on_retry(event)
                    elif isinstance(event, llm.StreamEnd):
                        self.finish_reason = event.finish_reason
            if self._unreported_prompt or self._unreported_output:
                # The provider sent no usage for this call (some compatible servers never do).
                completion = estimate_tokens("".join(self._unreported_output))
                self._calls.append(CallUsage(self._unreported_prompt, completion, 0, True))
                self.prompt_tokens += self._unreported_prompt
                self.completion_tokens += completion
                self._unreported_prompt, self._unreported_output = 0, []
                self._estimated = True
            if not calls:
                return
            for call in calls:
                step = self._new_step("tool_call", id_ref=call.id, name=call.name, arguments=call.arguments)
                yield StepUpdate(step, dict(step), True)
            outcomes = await asyncio.gather(*(self._execute(call, offered) for call in calls))
            for call, outcome in zip(calls, outcomes, strict=True):
                step = self._new_step("tool_result", id_ref=call.id, name=call.name, content=outcome.content, success=outcome.success)
                yield StepUpdate(step, dict(step), True)
            messages.append(
                {
                    "role": "assistant",
                    "content": "".join(text_parts),
                    "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls],
                    "thinking_blocks": signatures,
                }
            )
            messages.extend({"role": "tool", "tool_call_id": c.id, "content": o.content} for c, o in zip(calls, outcomes, strict=True))

    async def _execute(self, call: llm.ToolCallRequest, offered: dict[str, Tool]) -> ToolOutcome:
        ctx = self.spec.tool_context
        if ctx is None:
            return ToolOutcome(False, render_result({"error": "Tools are not available in this conversation."}), 0)
        tool = await registry.aget(call.name, user_id=ctx.user_id)
        if call.name not in offered and (tool is None or tool.allows(ctx.permission_level)):
            # Not offered but allowed by level (or unknown): refuse without running. A call
            # beyond the user's level goes through tool_execute, which names the missing
            # level and records the attempt.
            message = f"The tool {call.name} is not enabled here." if tool else f"Unknown tool: {call.name}."
            return ToolOutcome(False, render_result({"error": message}), 0)
        return await tool_execute(name=call.name, arguments=call.arguments, ctx=ctx)


def _prompt_estimate(request: ChatRequest) -> int:
    total = estimate_tokens(request.system)
    for message in request.messages:
        content = message.get("content")
        total += 4 + (estimate_tokens(content) if isinstance(content, str) else 0)
    return total
