"""The knowledge_search tool: a model searching the user's documents on its own."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from luxx.db import run_db
from toolbox.registry import Tool, ToolCategory, ToolContext


async def _knowledge_search(args: dict[str, Any], ctx: ToolContext) -> Any:
    from knowledge.services import knowledge_search

    # With an agent: its documents and the user's documents for every chat; without one:
    # all of the user's documents, as the Knowledge page's "All documents".
    results = await run_db(
        knowledge_search,
        user_id=ctx.user_id,
        query=args["query"],
        agent_id=ctx.agent_id,
        top_k=args.get("top_k", 5),
        for_chat=ctx.agent_id is not None,
    )
    return {"query": args["query"], "results": [asdict(r) for r in results], "count": len(results)}


KNOWLEDGE_SEARCH = Tool(
    name="knowledge_search",
    description="Search the user's uploaded documents (PDF, TXT, Markdown) and return the most relevant passages.",
    category=ToolCategory.KNOWLEDGE,
    parameters={
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 2000, "description": "What to look for."},
            "top_k": {"type": "integer", "minimum": 1, "maximum": 20, "description": "How many passages (default 5)."},
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    required_level=1,
    handler=_knowledge_search,
    timeout=30.0,
)
