"""web_search, web_fetch and batch_fetch."""

from __future__ import annotations

import asyncio
from typing import Any

from toolbox import fetcher, search
from toolbox.registry import Tool, ToolCategory, ToolContext, ToolError, ToolRegistry

READ_ONLY = 1
BATCH_CONCURRENCY = 5
BATCH_MAX_URLS = 10
DEFAULT_MAX_CHARS = 20_000


def _shape(page: fetcher.Page, max_chars: int) -> dict[str, Any]:
    data = page.as_dict()
    if len(data["text"]) > max_chars:
        data["text"] = data["text"][:max_chars] + f"\n…[truncated: {len(page.text)} characters in all]"
        data["truncated"] = True
    return data


async def web_search(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    try:
        results = await search.web_search(args["query"], max_results=args.get("max_results", 5))
    except search.SearchError as error:
        raise ToolError(str(error)) from None
    return {"query": args["query"], "results": [r.as_dict() for r in results], "count": len(results)}


async def web_fetch(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    try:
        page = await fetcher.fetch(args["url"])
    except fetcher.FetchError as error:
        raise ToolError(str(error)) from None
    return _shape(page, args.get("max_chars", DEFAULT_MAX_CHARS))


async def batch_fetch(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    gate = asyncio.Semaphore(BATCH_CONCURRENCY)
    max_chars = args.get("max_chars", DEFAULT_MAX_CHARS // 4)

    async def one(url: str) -> dict[str, Any]:
        async with gate:
            try:
                page = await fetcher.fetch(url)
            except fetcher.FetchError as error:
                return {"url": url, "success": False, "error": str(error)}
        return {"success": True, **_shape(page, max_chars), "requested_url": url}

    results = await asyncio.gather(*(one(url) for url in args["urls"]))
    return {"results": results, "succeeded": sum(1 for r in results if r["success"]), "failed": sum(1 for r in results if not r["success"])}


def register(registry: ToolRegistry) -> None:
    url_schema = {"type": "string", "minLength": 1, "maxLength": 4096}
    max_chars = {"type": "integer", "minimum": 100, "maximum": 60_000, "description": "Cut the page text at this many characters."}
    for name, description, properties, required, handler, timeout in (
        (
            "web_search",
            "Search the web (DuckDuckGo, or the configured SearXNG) and return title, url and snippet per result.",
            {
                "query": {"type": "string", "minLength": 1, "maxLength": 500, "description": "Search query"},
                "max_results": {"type": "integer", "minimum": 1, "maximum": 20, "description": "How many results (default 5)."},
            },
            ["query"],
            web_search,
            30.0,
        ),
        (
            "web_fetch",
            "Fetch a public web page and return its title, readable text and links.",
            {"url": {**url_schema, "description": "An http or https URL."}, "max_chars": max_chars},
            ["url"],
            web_fetch,
            30.0,
        ),
        (
            "batch_fetch",
            f"Fetch up to {BATCH_MAX_URLS} public web pages concurrently; each result says whether it succeeded.",
            {
                "urls": {"type": "array", "items": url_schema, "minItems": 1, "maxItems": BATCH_MAX_URLS},
                "max_chars": max_chars,
            },
            ["urls"],
            batch_fetch,
            60.0,
        ),
    ):
        registry.register(
            Tool(
                name=name,
                description=description,
                category=ToolCategory.CRAWLER,
                parameters={"type": "object", "properties": properties, "required": required, "additionalProperties": False},
                required_level=READ_ONLY,
                handler=handler,
                timeout=timeout,
            )
        )
