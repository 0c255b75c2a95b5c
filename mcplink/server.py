"""Luxx as an MCP server: a user's agents and documents for any MCP client.

Three tools, each for the user whose bearer token came with the request (see
:mod:`mcplink.asgi`) and only over their own data:

* ``knowledge_search`` — their documents (optionally one agent's), ranked passages;
* ``list_agents`` — their agents;
* ``ask_agent`` — one turn of one of their agents, saved as a conversation like any chat
  (its tools within the user's permission level, its documents as sources), returning
  the reply text with its citations.

Like the chat and knowledge APIs, this is an entry point over the services of ``chat``,
``agents`` and ``knowledge``; it writes no logic of its own.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from django.conf import settings
from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field
from rest_framework.exceptions import APIException, ValidationError

from luxx.db import run_db

INSTRUCTIONS = (
    "Luxx is a self-hosted AI agent platform. Use list_agents to see the user's agents, "
    "ask_agent to have one of them answer (it may use its tools and the user's documents), "
    "and knowledge_search to find passages in the user's uploaded documents."
)

luxx_mcp: MCPServer = MCPServer(
    "Luxx",
    instructions=INSTRUCTIONS,
    version=str(settings.LUXX_VERSION),
    # Luxx checks its own bearer tokens in mcplink.asgi; the SDK's OAuth is not used.
    warn_on_duplicate_tools=True,
)


def _user_id() -> int:
    token = get_access_token()
    if token is None or token.subject is None:
        # The endpoint refuses unauthenticated requests before any tool runs.
        raise ToolError("Not signed in.")
    return int(token.subject)


def _user(user_id: int) -> Any:
    from accounts.models import User

    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise ToolError("This account is not active.")
    return user


def _plain(error: APIException) -> str:
    """A DRF error (a service's refusal) in one sentence, naming the field."""
    if isinstance(error, ValidationError) and isinstance(error.detail, dict):
        parts = [f"{field}: {' '.join(str(m) for m in messages)}" for field, messages in error.detail.items()]
        return " ".join(parts)
    return str(error.detail)


# --- knowledge_search -----------------------------------------------------------------


def _search(*, user_id: int, query: str, agent_id: int | None, top_k: int) -> dict[str, Any]:
    from agents.models import Agent
    from knowledge.services import knowledge_search as search

    if agent_id is not None and not Agent.objects.filter(pk=agent_id, user_id=user_id).exists():
        raise ToolError(f"Unknown agent {agent_id}: use list_agents to see yours.")
    results = search(user_id=user_id, query=query, agent_id=agent_id, top_k=top_k)
    return {"query": query, "results": [asdict(r) for r in results], "count": len(results)}


@luxx_mcp.tool()
async def knowledge_search(
    query: Annotated[str, Field(min_length=1, max_length=2000, description="What to look for.")],
    agent_id: Annotated[int | None, Field(description="Only this agent's documents (see list_agents).")] = None,
    top_k: Annotated[int, Field(ge=1, le=100, description="How many passages (default 5).")] = 5,
) -> dict[str, Any]:
    """Search the user's uploaded documents (PDF, TXT, Markdown) and return the best passages,
    with the document, chunk, page and heading of each."""
    return await run_db(_search, user_id=_user_id(), query=query, agent_id=agent_id, top_k=top_k)


# --- list_agents ----------------------------------------------------------------------


def _agents(*, user_id: int) -> dict[str, Any]:
    from agents.models import Agent

    agents = Agent.objects.filter(user_id=user_id).order_by("id")
    items = [
        {
            "id": agent.pk,
            "name": agent.name,
            "role": agent.role,
            "description": agent.description,
            "model": agent.model,
            "enabled_tools": list(agent.enabled_tools or []),
        }
        for agent in agents
    ]
    return {"agents": items, "count": len(items)}


@luxx_mcp.tool()
async def list_agents() -> dict[str, Any]:
    """The user's agents: id, name, role, description, model and the tools each may use."""
    return await run_db(_agents, user_id=_user_id())


# --- ask_agent ------------------------------------------------------------------------


def _prepare_turn(*, user_id: int, agent_id: int, message: str, conversation_id: str | None) -> Any:
    from agents.models import Agent
    from chat import services

    user = _user(user_id)
    agent = Agent.objects.filter(pk=agent_id, user=user).first()
    if agent is None:
        raise ToolError(f"Unknown agent {agent_id}: use list_agents to see yours.")
    try:
        if conversation_id is None:
            conversation = services.conversation_create(user=user, agent_id=agent.pk, title=f"{agent.name} (MCP)")
        else:
            conversation = services.conversation_get(user=user, conversation_id=conversation_id)
            if conversation.agent_id != agent.pk:
                raise ToolError(f"The conversation {conversation_id} is not with the agent {agent_id}.")
        return services.turn_prepare(user=user, conversation_id=conversation.pk, content=message)
    except APIException as error:
        raise ToolError(_plain(error)) from None


def _reply_text(message_id: str) -> str:
    from chat.models import Message

    return Message.objects.filter(pk=message_id).values_list("content", flat=True).first() or ""


@luxx_mcp.tool()
async def ask_agent(
    agent_id: Annotated[int, Field(description="One of the user's agents (see list_agents).")],
    message: Annotated[str, Field(min_length=1, max_length=100_000, description="What to ask the agent.")],
    conversation_id: Annotated[
        str | None, Field(description="Continue this conversation (from an earlier ask_agent) instead of starting one.")
    ] = None,
) -> dict[str, Any]:
    """Ask one of the user's agents: it answers with its own instructions, model and tools
    (within the user's permission level) and cites the user's documents it used. The turn
    is saved as a conversation the user sees in Luxx; pass its conversation_id to go on."""
    from chat.models import MessageStatus
    from chat.streaming import collect_turn

    prepared = await run_db(_prepare_turn, user_id=_user_id(), agent_id=agent_id, message=message, conversation_id=conversation_id)
    final = await collect_turn(prepared)
    if final.status == MessageStatus.ERROR:
        raise ToolError(f"The agent could not answer: {final.error}")
    return {
        "reply": await run_db(_reply_text, final.message_id),
        "citations": list(final.citations),
        "conversation_id": prepared.conversation_id,
        "message_id": final.message_id,
        "status": final.status,
        "usage": final.usage,
    }
