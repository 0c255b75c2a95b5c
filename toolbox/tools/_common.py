"""Helpers shared by the built-in tools."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from django.conf import settings

from toolbox import sandbox, workspace
from toolbox.registry import ToolContext, ToolError

SHOWN_OUTPUT_CHARS = 24_000


def sandbox_timeout_schema() -> dict[str, Any]:
    return {
        "type": "number",
        "minimum": 1,
        "maximum": float(settings.LUXX_SANDBOX_TIMEOUT_SECONDS),
        "description": f"Wall-clock limit in seconds (default and maximum {settings.LUXX_SANDBOX_TIMEOUT_SECONDS:g}).",
    }


def tool_time_limit() -> float:
    """The registry's limit for a sandbox tool: the run's own limit plus room to queue and clean up."""
    return float(settings.LUXX_SANDBOX_TIMEOUT_SECONDS) * 2 + 10


async def run_in_sandbox(ctx: ToolContext, *, argv: list[str], stdin: bytes, seconds: float | None) -> dict[str, Any]:
    """Run in the caller's workspace; the result dict plus a quota warning when exceeded."""
    ws: Path = await asyncio.to_thread(workspace.workspace_for, ctx)
    limits = sandbox.SandboxLimits.from_settings(timeout=seconds)
    try:
        result = await sandbox.run_sandboxed(argv=argv, stdin=stdin, workspace=ws, user_id=ctx.user_id, limits=limits)
    except (sandbox.SandboxUnavailable, sandbox.SandboxBusy) as error:
        raise ToolError(str(error)) from None
    data = result.as_dict()
    for stream in ("stdout", "stderr"):
        text = data[stream]
        if len(text) > SHOWN_OUTPUT_CHARS:
            # The sandbox keeps up to 1 MiB, but a tool result must stay small enough for a
            # model (and valid JSON under the registry's cap): keep the start, say the rest.
            data[stream] = text[:SHOWN_OUTPUT_CHARS] + f"\n…[{len(text) - SHOWN_OUTPUT_CHARS} more characters not shown]"
            data["truncated"] = True
    used = await asyncio.to_thread(workspace.usage_bytes, ws)
    if used > workspace.quota_bytes():
        data["warning"] = (
            f"The workspace uses {used // (1024 * 1024)} MB, over its quota of {settings.LUXX_WORKSPACE_QUOTA_MB} MB; "
            "file_write refuses new data until files are deleted."
        )
    return data
