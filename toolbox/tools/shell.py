"""shell_execute: a shell command in the sandbox."""

from __future__ import annotations

import os
from typing import Any

from toolbox.registry import Tool, ToolCategory, ToolContext, ToolRegistry
from toolbox.sandbox import check_available
from toolbox.tools._common import run_in_sandbox, sandbox_timeout_schema, tool_time_limit

EXECUTE = 3
MAX_COMMAND_CHARS = 200_000


def _shell() -> str:
    return "/bin/bash" if os.path.exists("/usr/bin/bash") else "/bin/sh"


async def shell_execute(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    # The script travels on stdin (no argv size limit); the commands themselves then see
    # an empty stdin instead of the rest of the script.
    return await run_in_sandbox(ctx, argv=[_shell(), "-c", 'eval "$(cat)"'], stdin=args["command"].encode(), seconds=args.get("timeout"))


def register(registry: ToolRegistry) -> None:
    registry.register(
        Tool(
            name="shell_execute",
            description=(
                "Run a shell (bash) command in an isolated sandbox (no network) in the user's workspace (/workspace). "
                "Returns stdout, stderr, exit_code, timed_out and truncated."
            ),
            category=ToolCategory.SHELL,
            parameters={
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The command line or script.", "maxLength": MAX_COMMAND_CHARS},
                    "timeout": sandbox_timeout_schema(),
                },
                "required": ["command"],
                "additionalProperties": False,
            },
            required_level=EXECUTE,
            handler=shell_execute,
            timeout=tool_time_limit(),
            availability=check_available,
        )
    )
