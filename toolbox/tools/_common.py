"""Helpers shared by the built-in tools."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

from django.conf import settings

from toolbox import sandbox, workspace
from toolbox.registry import ToolContext, ToolError

SHOWN_OUTPUT_CHARS = 24_000
MB = 1024 * 1024
QUOTA_POLL_SECONDS = 0.2


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
    """Run in the caller's workspace; the result dict plus a quota warning when exceeded.

    The workspace quota holds for runs too: a run does not start in a full workspace, no
    file it writes may grow past the space left (RLIMIT_FSIZE), and a watcher measures the
    workspace while it runs and kills it once it is over quota. That check, rather than a
    size-limited mount of the workspace, because a mount needs privileges (loop devices or
    filesystem project quotas) that ``make run`` as an ordinary user does not have; what a
    run can write past the quota is bounded by what it writes between two measurements."""
    ws: Path = await workspace.workspace_for_async(ctx)
    quota = workspace.quota_bytes()
    used = await workspace.run_file_op(ctx.user_id, _usage, ws)
    if used >= quota:
        raise ToolError(
            f"The workspace uses {used // MB} MB of its {settings.LUXX_WORKSPACE_QUOTA_MB} MB quota: delete files "
            "(file_delete) before running code."
        )
    limits = sandbox.SandboxLimits.from_settings(timeout=seconds)
    limits = dataclasses.replace(limits, file_size_bytes=min(limits.file_size_bytes, quota - used))
    try:
        result = await sandbox.run_sandboxed(
            argv=argv, stdin=stdin, workspace=ws, user_id=ctx.user_id, limits=limits, guard=_quota_guard(ctx.user_id, ws, quota)
        )
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
    used = await workspace.run_file_op(ctx.user_id, _usage, ws)
    if used > quota:
        data["warning"] = (
            f"The workspace uses {used // MB} MB, over its quota of {settings.LUXX_WORKSPACE_QUOTA_MB} MB; "
            "code runs and file_write refuse until files are deleted (file_delete)."
        )
    return data


def _usage(ws: Path) -> int:
    for _attempt in range(3):
        try:
            return workspace.usage_bytes(ws)
        except workspace.WorkspaceChanged:
            continue  # code in the sandbox moved a directory mid-walk: measure again
    raise ToolError("The workspace keeps changing while its size is measured; try again.")


def _quota_guard(user_id: int, ws: Path, quota: int) -> sandbox.Guard:
    async def watch() -> str:
        while True:
            started = time.monotonic()
            try:
                used = await workspace.run_file_op(user_id, workspace.usage_bytes, ws)
            except workspace.WorkspaceChanged:
                used = 0  # measured again at the next turn
            if used > quota:
                return f"the workspace went over its quota of {settings.LUXX_WORKSPACE_QUOTA_MB} MB"
            # A large workspace takes longer to measure: measure less often, so that
            # watching never takes more than a fifth of a thread.
            await asyncio.sleep(max(QUOTA_POLL_SECONDS, 4 * (time.monotonic() - started)))

    return watch
