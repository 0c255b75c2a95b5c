"""The audit recorder installed into the registry: one ToolExecution per call."""

from __future__ import annotations

import json
from typing import Any

from toolbox.registry import ToolContext, ToolOutcome

PREVIEW_CHARS = 2000
MAX_ARGUMENT_CHARS = 20_000


def _stored_arguments(arguments: dict[str, Any] | str | None) -> Any:
    if arguments is None or arguments == "":
        return {}
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False, default=str)
    if len(text) > MAX_ARGUMENT_CHARS:
        # 200 KB of code should not bloat the audit table; the start shows what ran.
        return {"_truncated": True, "_size": len(text), "preview": text[:MAX_ARGUMENT_CHARS]}
    if isinstance(arguments, str):
        return {"_raw": arguments}
    return arguments


async def record_tool_execution(*, name: str, arguments: dict[str, Any] | str | None, ctx: ToolContext, outcome: ToolOutcome) -> None:
    from toolbox.models import ToolExecution

    await ToolExecution.objects.acreate(
        user_id=ctx.user_id,
        username=ctx.username,
        tool_name=name[:100],
        arguments=_stored_arguments(arguments),
        success=outcome.success,
        rejected_status=outcome.rejected_status,
        result_preview=outcome.content[:PREVIEW_CHARS],
        duration_ms=outcome.duration_ms,
        conversation_id=(ctx.conversation_id or "")[:64],
        room_id=(ctx.room_id or "")[:64],
    )
