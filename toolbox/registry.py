"""The tool registry: what tools exist, who may run them, and the one way to run one.

Every execution, from the tools API or from a model's tool call, goes through
:func:`tool_execute`, which checks the level, validates the arguments against the tool's
JSON schema, enforces the time limit, records an audit entry, and turns every failure
into a failed :class:`ToolOutcome` instead of an exception.

Built-in tools are registered once per process. Tools that belong to some users only (an
MCP server's, ``mcp.<server>.<tool>``) come from a :class:`ToolSource` that the registry
asks, for one user, whenever a name carries the source's prefix.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import jsonschema
from django.db import models

from luxx import metrics

logger = logging.getLogger(__name__)

MAX_RESULT_CHARS = 64_000
TRUNCATION_MARKER = "\n…[truncated: result exceeded {limit} characters]"


class ToolCategory(models.TextChoices):
    CODE = "code"
    FILE = "file"
    SHELL = "shell"
    CRAWLER = "crawler"
    DATA = "data"
    KNOWLEDGE = "knowledge"
    MCP = "mcp"


LEVEL_NAMES = {1: "READ_ONLY", 2: "WRITE", 3: "EXECUTE", 4: "ADMIN"}


@dataclass(frozen=True)
class ToolContext:
    """Who runs a tool, and on behalf of which conversation or room."""

    user_id: int
    permission_level: int
    username: str = ""
    workspace_path: str | None = None
    conversation_id: str | None = None
    room_id: str | None = None
    agent_id: int | None = None
    message_id: str | None = None

    @classmethod
    def for_user(cls, user: Any, **extra: Any) -> ToolContext:
        return cls(
            user_id=user.pk,
            permission_level=user.permission_level if user.is_active else 0,
            username=user.username,
            workspace_path=user.workspace_path,
            **extra,
        )


class ToolError(Exception):
    """Raised by a tool handler for an expected failure; the message goes to the model."""


class ToolCallRejected(Exception):
    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ToolNotFound(ToolCallRejected):
    status_code = 404


class ToolPermissionDenied(ToolCallRejected):
    status_code = 403


class ToolArgumentError(ToolCallRejected):
    status_code = 400


class ToolUnavailable(ToolCallRejected):
    """The tool cannot run on this server (e.g. no working sandbox)."""

    status_code = 503


ToolHandler = Callable[[dict[str, Any], ToolContext], Awaitable[Any]]
AvailabilityCheck = Callable[[], tuple[bool, str]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    category: str
    parameters: dict[str, Any]
    required_level: int
    handler: ToolHandler
    timeout: float = 30.0
    availability: AvailabilityCheck | None = field(default=None, compare=False)

    def is_available(self) -> tuple[bool, str]:
        """Whether the tool can run on this server (e.g. the sandbox works), and why not."""
        if self.availability is None:
            return True, ""
        return self.availability()

    def allows(self, permission_level: int) -> bool:
        return permission_level >= self.required_level

    def as_function_schema(self) -> dict[str, Any]:
        """The tool as an OpenAI-style function definition (adapters convert as needed)."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


class ToolSource(Protocol):
    """Tools kept outside the process (in the database), visible to some users only.

    Both methods read the database: call them from synchronous code, or through
    :meth:`ToolRegistry.aget` from async code."""

    prefix: str

    def tools_for(self, user_id: int) -> list[Tool]:
        """Every tool of this source the user can see."""
        ...

    def tool_for(self, name: str, user_id: int) -> Tool | None:
        """The tool called ``name`` if the user can see it."""
        ...


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._sources: list[ToolSource] = []

    def register(self, tool: Tool) -> Tool:
        self._tools[tool.name] = tool
        return tool

    def unregister(self, name: str) -> None:
        self._tools.pop(name, None)

    def add_source(self, source: ToolSource) -> None:
        if all(existing.prefix != source.prefix for existing in self._sources):
            self._sources.append(source)

    def _source_for(self, name: str) -> ToolSource | None:
        return next((source for source in self._sources if name.startswith(source.prefix)), None)

    def get(self, name: str, *, user_id: int | None = None) -> Tool | None:
        """A tool by name. Without ``user_id`` only built-in tools (no database access);
        with it also the tools of a source that the user can see."""
        tool = self._tools.get(name)
        if tool is not None or user_id is None:
            return tool
        source = self._source_for(name)
        return source.tool_for(name, user_id) if source is not None else None

    async def aget(self, name: str, *, user_id: int) -> Tool | None:
        """See get(); a source's tool is read in a database thread."""
        tool = self._tools.get(name)
        if tool is not None:
            return tool
        source = self._source_for(name)
        if source is None:
            return None
        from luxx.db import run_db

        return await run_db(source.tool_for, name, user_id)

    def all(self, *, user_id: int | None = None) -> list[Tool]:
        """Every built-in tool, and with ``user_id`` every tool of a source the user can see."""
        tools = list(self._tools.values())
        if user_id is not None:
            for source in self._sources:
                tools.extend(source.tools_for(user_id))
        return sorted(tools, key=lambda t: (t.category, t.name))

    def for_request(self, *, permission_level: int, enabled: list[str] | None, user_id: int | None = None) -> list[Tool]:
        """Tools offered to a model: those enabled by the request (all when None) that the
        user's level allows and that can run here."""
        if enabled is None:
            chosen = self.all(user_id=user_id)
        else:
            from_sources: dict[str, Tool] = {}
            if user_id is not None and any(self._source_for(name) for name in enabled if name not in self._tools):
                from_sources = {t.name: t for source in self._sources for t in source.tools_for(user_id)}
            chosen = [t for name in enabled if (t := self._tools.get(name) or from_sources.get(name))]
        return [t for t in chosen if t.allows(permission_level) and t.is_available()[0]]


registry = ToolRegistry()

AuditRecorder = Callable[..., Awaitable[None]]
_audit_recorder: AuditRecorder | None = None


def set_audit_recorder(recorder: AuditRecorder | None) -> None:
    """The toolbox app installs the function that writes audit records."""
    global _audit_recorder
    _audit_recorder = recorder


def parse_arguments(arguments: dict[str, Any] | str | None) -> dict[str, Any]:
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as error:
        raise ToolArgumentError(f"The arguments are not valid JSON: {error.msg}.") from None
    if not isinstance(parsed, dict):
        raise ToolArgumentError("The arguments must be a JSON object.")
    return parsed


def tool_check_call(
    *, name: str, arguments: dict[str, Any] | str | None, ctx: ToolContext, tool: Tool | None = None
) -> tuple[Tool, dict[str, Any]]:
    """Everything that can refuse a call before it runs: unknown tool, level, availability,
    arguments. Raises a :class:`ToolCallRejected` subclass with a plain message. ``tool``
    is the tool already looked up for the caller (a source's tools need the user)."""
    tool = tool or registry.get(name)
    if tool is None:
        raise ToolNotFound(f"Unknown tool: {name}.")
    if not tool.allows(ctx.permission_level):
        needed = LEVEL_NAMES.get(tool.required_level, str(tool.required_level))
        have = LEVEL_NAMES.get(ctx.permission_level, str(ctx.permission_level))
        raise ToolPermissionDenied(
            f"The tool {name} needs permission level {tool.required_level} ({needed}); you have {ctx.permission_level} ({have})."
        )
    available, reason = tool.is_available()
    if not available:
        raise ToolUnavailable(f"The tool {name} is unavailable on this server: {reason}")
    args = parse_arguments(arguments)
    try:
        jsonschema.validate(args, tool.parameters)
    except jsonschema.ValidationError as error:
        where = ".".join(str(p) for p in error.absolute_path) or (error.path and str(error.path[0])) or "arguments"
        raise ToolArgumentError(f"{where}: {error.message}") from None
    except jsonschema.SchemaError:
        raise ToolUnavailable(f"The tool {name} declares an invalid JSON schema for its arguments.") from None
    return tool, args


@dataclass(frozen=True)
class ToolOutcome:
    success: bool
    content: str
    duration_ms: int
    rejected_status: int | None = None


def render_result(value: Any) -> str:
    """Serialize a tool's result for the model, capped with a visible marker."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + TRUNCATION_MARKER.format(limit=MAX_RESULT_CHARS)
    return text


async def tool_execute(*, name: str, arguments: dict[str, Any] | str | None, ctx: ToolContext) -> ToolOutcome:
    """Run a tool call. Never raises: a refusal, a tool error or a timeout is a failed outcome."""
    started = time.perf_counter()
    parsed: dict[str, Any] | str | None = arguments
    rejected_status: int | None = None
    found: Tool | None = None
    try:
        found = await registry.aget(name, user_id=ctx.user_id)
        tool, parsed = tool_check_call(name=name, arguments=arguments, ctx=ctx, tool=found)
        result = await asyncio.wait_for(tool.handler(parsed, ctx), timeout=tool.timeout)
        success, content, kind = True, render_result(result), "success"
    except ToolCallRejected as error:
        success, content, rejected_status = False, render_result({"error": error.message}), error.status_code
        kind = "rejected"
    except ToolError as error:
        success, content, kind = False, render_result({"error": str(error)}), "error"
    except TimeoutError:
        limit = found.timeout if found is not None else 0
        success, content, kind = False, render_result({"error": f"The tool {name} timed out after {limit:g} seconds."}), "timeout"
    except Exception as error:  # a tool bug must become a failed result, never crash a turn
        logger.exception("Tool %s failed", name)
        success, content, kind = False, render_result({"error": f"The tool {name} failed: {type(error).__name__}: {error}"}), "error"
    metrics.TOOL_RUNS.labels(tool=metrics.tool_label(name) if found is not None else "unknown", outcome=kind).inc()
    duration_ms = int((time.perf_counter() - started) * 1000)
    outcome = ToolOutcome(success=success, content=content, duration_ms=duration_ms, rejected_status=rejected_status)
    if _audit_recorder is not None:
        try:
            await _audit_recorder(name=name, arguments=parsed, ctx=ctx, outcome=outcome)
        except Exception:  # auditing must not break the call it records
            logger.exception("Could not record the audit entry for tool %s", name)
    return outcome
