"""Reading server-sent events in tests, from a real HTTP response."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class SSEEvent:
    event: str | None
    data: Any
    id: str | None = None


def parse_sse(text: str) -> list[SSEEvent]:
    events = []
    for block in text.split("\n\n"):
        event, event_id, data_lines = None, None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("id:"):
                event_id = line[3:].strip()
            elif line.startswith("data:"):
                data_lines.append(line[5:].strip())
        if data_lines:
            raw = "\n".join(data_lines)
            events.append(SSEEvent(event, json.loads(raw) if raw else None, event_id))
    return events


def stream_events(
    client: httpx.Client, url: str, body: dict[str, Any], token: str, timeout: float = 30
) -> tuple[httpx.Response, list[SSEEvent]]:
    with client.stream("POST", url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=timeout) as response:
        text = response.read().decode()
    return response, parse_sse(text) if response.headers.get("content-type", "").startswith("text/event-stream") else []


def rebuild_steps(events: list[SSEEvent]) -> list[dict[str, Any]]:
    """Apply process_step events the way a client must: the first event of a step id
    creates it; later thinking/text events append their content."""
    steps: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for event in events:
        if event.event != "process_step":
            continue
        piece = event.data["step"]
        if piece["id"] not in steps:
            steps[piece["id"]] = dict(piece)
            order.append(piece["id"])
        else:
            steps[piece["id"]]["content"] += piece["content"]
    return [steps[i] for i in order]
