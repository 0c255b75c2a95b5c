"""The OpenAPI schema of tool calls: one operation per built-in tool.

``POST /api/tools/{name}/execute`` takes the named tool's arguments, so one request schema
cannot say what it accepts. The published schema therefore has an operation for each
built-in tool (``/api/tools/file_read/execute`` ...) whose body is that tool's own JSON
schema, and keeps the templated path for MCP tools (``mcp.<server>.<tool>``), whose
arguments are listed by ``GET /api/tools/{name}``.
"""

from __future__ import annotations

import copy
from typing import Any

TEMPLATE = "/api/tools/{name}/execute"


def document_each_tool(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""
    from toolbox.registry import registry

    paths = result.get("paths", {})
    template = paths.get(TEMPLATE, {}).get("post")
    if template is None:
        return result
    for tool in sorted(registry.all(), key=lambda tool: tool.name):
        operation = copy.deepcopy(template)
        operation["operationId"] = f"tools_{tool.name}_execute"
        operation["summary"] = f"Run {tool.name}"
        operation["description"] = tool.description
        operation["parameters"] = [p for p in operation.get("parameters", []) if p.get("name") != "name"]
        # No body is an empty arguments object, fine when the tool requires no argument.
        body_required = bool(tool.parameters.get("required"))
        operation["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": _openapi_30(tool.parameters)}}}
        paths[f"/api/tools/{tool.name}/execute"] = {"post": operation}
    for parameter in template.get("parameters", []):
        if parameter.get("name") == "name" and parameter.get("in") == "path":
            parameter["schema"] = {"type": "string", "pattern": r"^mcp\.[^/]+$"}
            parameter["description"] = "An MCP tool, mcp.<server>.<tool> (built-in tools have operations of their own)."
    template["summary"] = "Run an MCP tool with the arguments GET /api/tools/{name} describes"
    return result


def _openapi_30(schema: Any) -> Any:
    """A tool's JSON schema as OpenAPI 3.0 takes it: ``"type": [t, "null"]`` becomes
    ``"type": t, "nullable": true``, and an empty ``required`` list goes."""
    if isinstance(schema, list):
        return [_openapi_30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _openapi_30(value) for key, value in schema.items()}
    types = converted.get("type")
    if isinstance(types, list):
        others = [t for t in types if t != "null"]
        if len(others) == 1:
            converted["type"] = others[0]
            if "null" in types:
                converted["nullable"] = True
    if converted.get("required") == []:
        del converted["required"]
    return converted
