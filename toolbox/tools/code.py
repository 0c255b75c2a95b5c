"""python_execute and python_eval: Python in the sandbox (never in the server process)."""

from __future__ import annotations

import json
from typing import Any

from toolbox.registry import Tool, ToolCategory, ToolContext, ToolError, ToolRegistry
from toolbox.sandbox import SANDBOX_PYTHON, check_available
from toolbox.tools._common import run_in_sandbox, sandbox_timeout_schema, tool_time_limit

EXECUTE = 3
MAX_CODE_CHARS = 1_000_000
MAX_EXPRESSION_CHARS = 10_000

# Runs inside the sandbox: evaluates the expression read from stdin and reports its repr
# as the last line of stdout, as JSON; what the expression itself prints is captured apart.
_EVAL_PROGRAM = """
import contextlib, io, json, math, sys
source = sys.stdin.read()
printed = io.StringIO()
try:
    with contextlib.redirect_stdout(printed):
        value = eval(compile(source, "<expression>", "eval"), {"math": math})
except BaseException as error:
    print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
else:
    print(json.dumps({"result": repr(value), "type": type(value).__name__, "stdout": printed.getvalue()}))
"""


async def python_execute(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    # "-" reads the program from stdin, so any size of code fits; -I ignores the
    # environment and user site-packages.
    return await run_in_sandbox(ctx, argv=[SANDBOX_PYTHON, "-I", "-"], stdin=args["code"].encode(), seconds=args.get("timeout"))


async def python_eval(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    run = await run_in_sandbox(
        ctx, argv=[SANDBOX_PYTHON, "-I", "-c", _EVAL_PROGRAM], stdin=args["expression"].encode(), seconds=args.get("timeout")
    )
    if run["timed_out"]:
        raise ToolError(f"The expression did not finish in time. {run['stderr']}")
    lines = run["stdout"].strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        answer = {}
    if "error" in answer:
        raise ToolError(answer["error"])
    if "result" not in answer:
        raise ToolError(f"The expression could not be evaluated: {run['stderr'][-500:] or 'no output'}")
    return {"expression": args["expression"], **answer}


def register(registry: ToolRegistry) -> None:
    registry.register(
        Tool(
            name="python_execute",
            description=(
                "Execute Python 3 code in an isolated sandbox (no network) with the user's workspace as the current "
                "directory (/workspace). Returns stdout, stderr, exit_code, timed_out and truncated."
            ),
            category=ToolCategory.CODE,
            parameters={
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "The Python program to run.", "maxLength": MAX_CODE_CHARS},
                    "timeout": sandbox_timeout_schema(),
                },
                "required": ["code"],
                "additionalProperties": False,
            },
            required_level=EXECUTE,
            handler=python_execute,
            timeout=tool_time_limit(),
            availability=check_available,
        )
    )
    registry.register(
        Tool(
            name="python_eval",
            description="Evaluate one Python expression in the sandbox (e.g. '2**100', 'sum(range(10))') and return its repr.",
            category=ToolCategory.CODE,
            parameters={
                "type": "object",
                "properties": {
                    "expression": {"type": "string", "description": "A Python expression.", "maxLength": MAX_EXPRESSION_CHARS},
                    "timeout": sandbox_timeout_schema(),
                },
                "required": ["expression"],
                "additionalProperties": False,
            },
            required_level=EXECUTE,
            handler=python_eval,
            timeout=tool_time_limit(),
            availability=check_available,
        )
    )
