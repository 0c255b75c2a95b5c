"""process_data: parse, reshape and convert JSON or CSV data (pure, in process)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from toolbox.registry import Tool, ToolCategory, ToolContext, ToolError, ToolRegistry

READ_ONLY = 1
MAX_INPUT_CHARS = 1_000_000
_MISSING = object()
_OPERATORS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and a > b,
    "gte": lambda a, b: a is not None and a >= b,
    "lt": lambda a, b: a is not None and a < b,
    "lte": lambda a, b: a is not None and a <= b,
    "contains": lambda a, b: a is not None and str(b) in str(a),
    "in": lambda a, b: isinstance(b, list) and a in b,
}


def parse(text: str, input_format: str) -> Any:
    if input_format == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ToolError(f"The data is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}.") from None


def select(value: Any, path: str) -> Any:
    """Follow a dotted path; ``[*]``/``*`` maps over a list, ``[n]`` or ``n`` indexes it."""
    tokens = [t for t in path.replace("[", ".").replace("]", "").split(".") if t]
    return _select(value, tokens, path)


def _select(value: Any, tokens: list[str], path: str) -> Any:
    if not tokens:
        return value
    head, rest = tokens[0], tokens[1:]
    if head == "*":
        if not isinstance(value, list):
            raise ToolError(f"Path {path!r}: '*' needs a list.")
        return [_select(item, rest, path) for item in value]
    if isinstance(value, list):
        try:
            return _select(value[int(head)], rest, path)
        except (ValueError, IndexError):
            raise ToolError(f"Path {path!r}: no item {head!r} in a list of {len(value)}.") from None
    if isinstance(value, dict):
        if head not in value:
            raise ToolError(f"Path {path!r}: no key {head!r}.")
        return _select(value[head], rest, path)
    raise ToolError(f"Path {path!r}: cannot go into a {type(value).__name__} at {head!r}.")


def _field(item: Any, name: str) -> Any:
    value: Any = item
    for part in name.split("."):
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        else:
            return None
        if value is _MISSING:
            return None
    return value


def _rows(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ToolError(f"{what} needs a list of items; the data is a {type(value).__name__}.")
    return value


def transform(value: Any, args: dict[str, Any]) -> Any:
    if "select" in args:
        value = select(value, args["select"])
    if "filter" in args:
        rule = args["filter"]
        compare = _OPERATORS[rule.get("op", "eq")]
        try:
            value = [item for item in _rows(value, "filter") if compare(_field(item, rule["field"]), rule.get("value"))]
        except TypeError as error:
            raise ToolError(f"filter: cannot compare these values ({error}).") from None
    if "sort_by" in args:
        key = args["sort_by"]
        rows = _rows(value, "sort_by")
        # Missing values sort last whatever the direction.
        present = [r for r in rows if _field(r, key) is not None]
        missing = [r for r in rows if _field(r, key) is None]
        try:
            present.sort(key=lambda r: _field(r, key), reverse=bool(args.get("descending", False)))
        except TypeError:
            raise ToolError(f"sort_by: the values of {key!r} are of mixed types.") from None
        value = present + missing
    if "fields" in args:
        value = [{name: _field(item, name) for name in args["fields"]} for item in _rows(value, "fields")]
    if "limit" in args:
        value = _rows(value, "limit")[: args["limit"]]
    return value


def _table(value: Any) -> tuple[list[str], list[list[Any]]]:
    rows = value if isinstance(value, list) else [value]
    if not all(isinstance(row, dict) for row in rows):
        raise ToolError("CSV and Markdown output need a list of objects.")
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    return columns, [[row.get(c) for c in columns] for row in rows]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def render(value: Any, output_format: str, indent: int | None) -> str | Any:
    if output_format == "csv":
        columns, rows = _table(value)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_cell(c) for c in row] for row in rows])
        return out.getvalue()
    if output_format == "markdown":
        columns, rows = _table(value)

        def line(cells: list[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

        lines = [line(columns), "| " + " | ".join("---" for _ in columns) + " |"]
        lines += [line([_cell(c) for c in row]) for row in rows]
        return "\n".join(lines)
    return json.dumps(value, ensure_ascii=False, indent=indent)


async def process_data(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    value = transform(parse(args["data"], args.get("input_format", "json")), args)
    output_format = args.get("output_format", "json")
    output = render(value, output_format, args.get("indent", 2))
    count = len(value) if isinstance(value, list) else None
    return {"output": output, "format": output_format, "count": count}


def register(registry: ToolRegistry) -> None:
    registry.register(
        Tool(
            name="process_data",
            description=(
                "Parse JSON or CSV text and reshape it: select a path (e.g. 'items[*].name'), filter, sort, keep fields, "
                "limit, then output JSON (formatted), CSV or a Markdown table."
            ),
            category=ToolCategory.DATA,
            parameters={
                "type": "object",
                "properties": {
                    "data": {"type": "string", "maxLength": MAX_INPUT_CHARS, "description": "The input text."},
                    "input_format": {"type": "string", "enum": ["json", "csv"]},
                    "select": {"type": "string", "maxLength": 500, "description": "Dotted path, e.g. 'data.items[0]' or 'items[*].id'."},
                    "filter": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string", "minLength": 1},
                            "op": {"type": "string", "enum": sorted(_OPERATORS)},
                            "value": {},
                        },
                        "required": ["field"],
                        "additionalProperties": False,
                    },
                    "sort_by": {"type": "string", "minLength": 1},
                    "descending": {"type": "boolean"},
                    "fields": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "limit": {"type": "integer", "minimum": 0},
                    "output_format": {"type": "string", "enum": ["json", "csv", "markdown"]},
                    "indent": {"type": ["integer", "null"], "minimum": 0, "maximum": 8},
                },
                "required": ["data"],
                "additionalProperties": False,
            },
            required_level=READ_ONLY,
            handler=process_data,
            timeout=15.0,
        )
    )
