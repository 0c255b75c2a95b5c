"""Tool names as the model APIs accept them.

OpenAI and Anthropic refuse a function name that does not match ``^[a-zA-Z0-9_-]{1,64}$``,
while Luxx names an MCP server's tools ``mcp.<server>.<tool>``. For each model call the
names the APIs would refuse get a stand-in (dots and other characters become ``_``; a
clash or an over-long name ends in a short hash), and the model's tool calls are mapped
back, so nothing outside ``agents.llm`` sees a stand-in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agents.llm.base import ChatRequest, LLMEvent, ToolCallRequest

VALID_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_INVALID_CHARACTERS = re.compile(r"[^a-zA-Z0-9_-]")
MAX_NAME = 64


def _stand_in(name: str, taken: set[str]) -> str:
    candidate = _INVALID_CHARACTERS.sub("_", name)[:MAX_NAME] or "tool"
    if candidate in taken:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        candidate = f"{candidate[: MAX_NAME - 9]}_{digest}"
    return candidate


@dataclass(frozen=True, slots=True)
class ToolNameMap:
    """Stand-ins for the tool names of one model call, both ways."""

    to_wire: dict[str, str]
    from_wire: dict[str, str]

    @classmethod
    def for_names(cls, names: Iterable[str]) -> ToolNameMap:
        unique = list(dict.fromkeys(names))
        taken = {name for name in unique if VALID_NAME.match(name)}
        to_wire: dict[str, str] = {}
        for name in unique:
            if name in taken:
                continue
            wire = _stand_in(name, taken)
            taken.add(wire)
            to_wire[name] = wire
        return cls(to_wire=to_wire, from_wire={wire: name for name, wire in to_wire.items()})

    @classmethod
    def for_request(cls, request: ChatRequest) -> ToolNameMap:
        """The names of the offered tools and of the tool calls already in the history
        (a call from an earlier step is sent back even when no tools are offered)."""
        called = (call["name"] for message in request.messages for call in message.get("tool_calls") or ())
        return cls.for_names([*(tool.name for tool in request.tools), *called])

    def __bool__(self) -> bool:
        return bool(self.to_wire)

    def outgoing(self, request: ChatRequest) -> ChatRequest:
        """The request with stand-ins for the names the APIs would refuse."""
        tools = [dataclasses.replace(tool, name=self.to_wire.get(tool.name, tool.name)) for tool in request.tools]
        messages = [self._message(message) for message in request.messages]
        return dataclasses.replace(request, tools=tools, messages=messages)

    def _message(self, message: dict[str, Any]) -> dict[str, Any]:
        calls = message.get("tool_calls")
        if not calls:
            return message
        return {**message, "tool_calls": [{**call, "name": self.to_wire.get(call["name"], call["name"])} for call in calls]}

    def incoming(self, event: LLMEvent) -> LLMEvent:
        """A model's tool call under its Luxx name."""
        if isinstance(event, ToolCallRequest) and event.name in self.from_wire:
            return dataclasses.replace(event, name=self.from_wire[event.name])
        return event
