"""What the fake LLM answers: scripted scenarios, markers in the message, tokenization."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef\u3000-\u303f]|\S+\s*|\s+")
_MARKER = re.compile(r"\[\[fake (\{.*?\})\]\]", re.DOTALL)


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    def call_id(self, prefix: str) -> str:
        return self.id or f"{prefix}{uuid.uuid4().hex[:12]}"


@dataclass
class Scenario:
    """One scripted reply. Every field is optional; see the package README."""

    text: str | None = None
    thinking: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tokens: int | None = None
    chunk_tokens: int = 1
    ttft: float = 0.0
    tokens_per_second: float | None = None
    fault: str | None = None
    usage: dict[str, int] | None = None
    finish_reason: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scenario:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown scenario fields: {sorted(unknown)}")
        values = dict(data)
        values["tool_calls"] = [
            call if isinstance(call, ToolCall) else ToolCall(call["name"], call.get("arguments") or {}, call.get("id"))
            for call in values.get("tool_calls") or []
        ]
        return cls(**values)

    def reply_text(self, default: str) -> str:
        if self.text is not None:
            return self.text
        if self.tokens is not None:
            return " ".join(f"word{i}" for i in range(self.tokens))
        if self.tool_calls:
            return ""
        return default

    def fault_count(self, name: str) -> int | None:
        """K of ``drop_after:K`` / ``hang_after:K`` when the fault is ``name``."""
        if self.fault and self.fault.startswith(name + ":"):
            return int(self.fault.split(":", 1)[1])
        return None


def tokenize(text: str) -> list[str]:
    """Split so that joining the pieces gives the text back exactly."""
    return _TOKEN.findall(text)


def chunked(tokens: list[str], size: int) -> list[str]:
    size = max(1, size)
    return ["".join(tokens[i : i + size]) for i in range(0, len(tokens), size)]


def scenario_from_marker(text: str) -> Scenario | None:
    match = _MARKER.search(text or "")
    if match is None:
        return None
    return Scenario.from_dict(json.loads(match.group(1)))


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)
