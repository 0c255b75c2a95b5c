"""Web search backends: DuckDuckGo through the ``ddgs`` package, or a SearXNG instance.

``LUXX_WEB_SEARCH_BACKEND`` is ``ddgs`` (default) or the URL of a SearXNG instance; the
SearXNG URL is set by the administrator, so it may be on the local network.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from django.conf import settings


class SearchError(Exception):
    pass


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    snippet: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


async def web_search(query: str, *, max_results: int) -> list[SearchResult]:
    backend = str(settings.LUXX_WEB_SEARCH_BACKEND).strip()
    if backend.startswith(("http://", "https://")):
        return await _searxng(backend, query, max_results)
    if backend == "ddgs":
        return await asyncio.to_thread(_ddgs, query, max_results)
    raise SearchError(f"Unknown web search backend {backend!r}; use 'ddgs' or a SearXNG URL.")


async def _searxng(base: str, query: str, max_results: int) -> list[SearchResult]:
    url = base if base.rstrip("/").endswith("/search") else base.rstrip("/") + "/search"
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=15.0) as client:
            response = await client.get(url, params={"q": query, "format": "json"})
            response.raise_for_status()
            payload: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise SearchError(f"The search engine failed: {error}") from None
    results = []
    for item in payload.get("results", [])[:max_results]:
        results.append(SearchResult(title=str(item.get("title", "")), url=str(item.get("url", "")), snippet=str(item.get("content", ""))))
    return results


def _ddgs(query: str, max_results: int) -> list[SearchResult]:
    from ddgs import DDGS

    try:
        items = DDGS().text(query, max_results=max_results) or []
    except Exception as error:  # ddgs raises its own assorted errors for upstream failures
        raise SearchError(f"The search engine failed: {error}") from None
    return [SearchResult(title=str(i.get("title", "")), url=str(i.get("href", "")), snippet=str(i.get("body", ""))) for i in items]
