"""Luxx's own MCP server at /mcp, driven by the official SDK's client over a real ASGI
server: bearer auth, each tool over the caller's data only, and ask_agent running a real
turn against the fake LLM."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import httpx2
import mcp_types
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from accounts.models import PermissionLevel, RevokedAccessToken
from agents.models import Agent
from chat.models import Conversation, Message
from fakellm import Scenario
from knowledge.services import document_upload
from tests.chat.conftest import make_provider
from tests.support.factories import access_token_for, make_user

pytestmark = pytest.mark.django_db(transaction=True)

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def _session(url: str, token: str | None, work: Any, mode: str = "auto", statuses: list[int] | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def record(response: httpx2.Response) -> None:
        if statuses is not None:
            statuses.append(response.status_code)

    async with (
        httpx2.AsyncClient(headers=headers, timeout=60, event_hooks={"response": [record]}) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), cache=None, mode=mode) as client,
    ):
        return await work(client)


def call(url: str, token: str, tool: str, arguments: dict[str, Any] | None = None, mode: str = "auto") -> mcp_types.CallToolResult:
    async def work(client: Client) -> mcp_types.CallToolResult:
        return await client.call_tool(tool, arguments or {})

    return asyncio.run(_session(url, token, work, mode))


def data(result: mcp_types.CallToolResult) -> Any:
    assert result.is_error is False, result.content
    return result.structured_content


def error_text(result: mcp_types.CallToolResult) -> str:
    assert result.is_error is True
    return "".join(block.text for block in result.content if isinstance(block, mcp_types.TextContent))


def test_without_a_token_the_endpoint_answers_401(live_url: str) -> None:
    response = httpx.post(f"{live_url}/mcp", json=INITIALIZE, headers=MCP_HEADERS)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.parametrize("token", ["not-a-jwt", "revoked", "inactive"])
def test_a_bad_revoked_or_inactive_users_token_answers_401(live_url: str, token: str) -> None:
    user = make_user()
    raw = access_token_for(user)
    if token == "revoked":
        from rest_framework_simplejwt.tokens import AccessToken

        RevokedAccessToken.objects.create(jti=AccessToken(raw)["jti"], expires_at=AccessToken(raw).current_time)
    elif token == "inactive":
        user.is_active = False
        user.save()
    else:
        raw = token

    response = httpx.post(f"{live_url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {raw}"})

    assert response.status_code == 401


def test_the_sdk_client_cannot_connect_without_a_token(live_url: str) -> None:
    async def work(client: Client) -> Any:
        return await client.list_tools()

    statuses: list[int] = []

    with pytest.raises(BaseExceptionGroup) as raised:
        asyncio.run(_session(live_url, None, work, statuses=statuses))

    assert raised.group_contains(MCPError)
    assert statuses and set(statuses) == {401}


def test_a_host_not_in_allowed_hosts_is_refused(live_url: str) -> None:
    token = access_token_for(make_user())

    response = httpx.post(
        f"{live_url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}", "Host": "evil.example"}
    )

    assert response.status_code == 400


def test_a_body_that_is_not_json_rpc_answers_400(live_url: str) -> None:
    token = access_token_for(make_user())

    response = httpx.post(
        f"{live_url}/mcp",
        content=b"{not json",
        headers={**MCP_HEADERS, "Authorization": f"Bearer {token}", "MCP-Protocol-Version": "2025-11-25"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_a_client_of_either_protocol_era_lists_the_three_tools(live_url: str, mode: str) -> None:
    token = access_token_for(make_user())

    async def work(client: Client) -> tuple[str, list[str]]:
        return client.protocol_version, sorted(tool.name for tool in (await client.list_tools()).tools)

    version, names = asyncio.run(_session(live_url, token, work, mode))

    assert names == ["ask_agent", "knowledge_search", "list_agents"]
    assert version == ("2026-07-28" if mode == "auto" else "2025-11-25")


def test_list_agents_returns_only_the_callers_agents(live_url: str) -> None:
    alice, bob = make_user(), make_user()
    Agent.objects.create(user=alice, name="Researcher", role="finds things", enabled_tools=["web_search"])
    Agent.objects.create(user=bob, name="Bobs agent")

    result = data(call(live_url, access_token_for(alice), "list_agents"))

    assert result["count"] == 1
    assert [(a["name"], a["role"], a["enabled_tools"]) for a in result["agents"]] == [("Researcher", "finds things", ["web_search"])]


def test_knowledge_search_searches_only_the_callers_documents(live_url: str) -> None:
    alice, bob = make_user(), make_user()
    document_upload(
        user=alice, agent=None, name="alice.txt", data=b"The lighthouse keeper polishes the great lens every evening.", background=False
    )
    document_upload(user=bob, agent=None, name="bob.txt", data=b"The submarine captain studies the sonar charts at dawn.", background=False)
    token = access_token_for(alice)

    own = data(call(live_url, token, "knowledge_search", {"query": "lighthouse lens"}))
    theirs = data(call(live_url, token, "knowledge_search", {"query": "submarine sonar"}))

    assert [(r["document_name"], r["chunk_index"]) for r in own["results"]] == [("alice.txt", 0)]
    assert "lighthouse keeper" in own["results"][0]["content"]
    assert theirs == {"query": "submarine sonar", "results": [], "count": 0}


def test_knowledge_search_keeps_to_one_agents_documents_when_asked(live_url: str) -> None:
    alice = make_user()
    keeper, sailor = Agent.objects.create(user=alice, name="Keeper"), Agent.objects.create(user=alice, name="Sailor")
    for agent, name in ((keeper, "keeper.txt"), (sailor, "sailor.txt"), (None, "general.txt")):
        document_upload(user=alice, agent=agent, name=name, data=f"Notes on the lighthouse lens from {name}.".encode(), background=False)
    token = access_token_for(alice)

    scoped = data(call(live_url, token, "knowledge_search", {"query": "lighthouse lens", "agent_id": keeper.pk}))
    everything = data(call(live_url, token, "knowledge_search", {"query": "lighthouse lens"}))

    assert [r["document_name"] for r in scoped["results"]] == ["keeper.txt"]
    assert sorted(r["document_name"] for r in everything["results"]) == ["general.txt", "keeper.txt", "sailor.txt"]


def test_knowledge_search_refuses_another_users_agent_and_bad_arguments(live_url: str) -> None:
    alice, bob = make_user(), make_user()
    bobs = Agent.objects.create(user=bob, name="b")
    token = access_token_for(alice)

    other_agent = call(live_url, token, "knowledge_search", {"query": "x", "agent_id": bobs.pk})
    too_many = call(live_url, token, "knowledge_search", {"query": "x", "top_k": 1000})

    assert error_text(other_agent) == f"Error executing tool knowledge_search: Unknown agent {bobs.pk}: use list_agents to see yours."
    assert "top_k" in error_text(too_many)


def test_ask_agent_runs_a_turn_and_returns_the_reply_with_citations(live_url: str, fake_llm: Any) -> None:
    alice = make_user()
    make_provider(alice, fake_llm, "openai")
    agent = Agent.objects.create(user=alice, name="Keeper", system_prompt="You keep the lighthouse.")
    document_upload(
        user=alice,
        agent=agent,
        name="manual.md",
        data=b"# Lens care\n\nPolish the great lens with a soft cloth every evening.",
        background=False,
    )
    fake_llm.script(Scenario(text="Polish it every evening [1]."))

    result = data(call(live_url, access_token_for(alice), "ask_agent", {"agent_id": agent.pk, "message": "How do I care for the lens?"}))

    assert result["reply"] == "Polish it every evening [1]."
    assert result["status"] == "complete"
    assert [(c["index"], c["document_name"], c["heading"]) for c in result["citations"]] == [(1, "manual.md", "Lens care")]
    conversation = Conversation.objects.get(pk=result["conversation_id"])
    assert (conversation.user_id, conversation.agent_id) == (alice.pk, agent.pk)
    reply = Message.objects.get(pk=result["message_id"])
    assert (reply.content, reply.status, reply.citations[0]["document_name"]) == ("Polish it every evening [1].", "complete", "manual.md")
    sent = fake_llm.requests[0].body
    assert sent["messages"][0]["role"] == "system" and "You keep the lighthouse." in sent["messages"][0]["content"]
    assert "Polish the great lens" in sent["messages"][0]["content"]


def test_ask_agent_goes_on_in_the_same_conversation(live_url: str, fake_llm: Any) -> None:
    alice = make_user()
    make_provider(alice, fake_llm, "openai")
    agent = Agent.objects.create(user=alice, name="Echo")
    token = access_token_for(alice)
    fake_llm.script(Scenario(text="First answer."), Scenario(text="Second answer."))

    first = data(call(live_url, token, "ask_agent", {"agent_id": agent.pk, "message": "one"}))
    second = data(call(live_url, token, "ask_agent", {"agent_id": agent.pk, "message": "two", "conversation_id": first["conversation_id"]}))

    assert second["conversation_id"] == first["conversation_id"] and second["reply"] == "Second answer."
    history = [(m["role"], m["content"]) for m in fake_llm.requests[1].body["messages"]]
    assert history == [("user", "one"), ("assistant", "First answer."), ("user", "two")]


def test_ask_agent_runs_the_agents_mcp_tools_both_ways(live_url: str, fake_llm: Any, shared_server: dict[str, Any]) -> None:
    from fakellm import ToolCall
    from toolbox.models import ToolExecution

    alice = make_user(level=PermissionLevel.EXECUTE)
    make_provider(alice, fake_llm, "openai")
    agent = Agent.objects.create(user=alice, name="Relay", enabled_tools=["mcp.tests.echo"])
    fake_llm.script(Scenario(tool_calls=[ToolCall("mcp_tests_echo", {"text": "relayed"}, id="call_1")]), Scenario(text="It said: relayed."))

    result = data(call(live_url, access_token_for(alice), "ask_agent", {"agent_id": agent.pk, "message": "Relay this"}))

    assert result["reply"] == "It said: relayed." and result["status"] == "complete"
    assert "echo: relayed" in str(fake_llm.requests[1].body["messages"])
    record = ToolExecution.objects.get(tool_name="mcp.tests.echo")
    assert (record.user_id, record.conversation_id, record.success) == (alice.pk, result["conversation_id"], True)


def test_ask_agent_offers_only_the_tools_the_users_level_allows(live_url: str, fake_llm: Any) -> None:
    reader = make_user(level=PermissionLevel.READ_ONLY)
    make_provider(reader, fake_llm, "openai")
    agent = Agent.objects.create(user=reader, name="Coder", enabled_tools=["python_execute", "process_data"])
    fake_llm.script(Scenario(text="Done."))

    data(call(live_url, access_token_for(reader), "ask_agent", {"agent_id": agent.pk, "message": "hi"}))

    offered = [tool["function"]["name"] for tool in fake_llm.requests[0].body["tools"]]
    assert offered == ["process_data"]


def test_ask_agent_refuses_another_users_agent_and_conversation(live_url: str, fake_llm: Any) -> None:
    alice, bob = make_user(), make_user()
    make_provider(alice, fake_llm, "openai")
    bobs_agent = Agent.objects.create(user=bob, name="b")
    alices_agent = Agent.objects.create(user=alice, name="a")
    bobs_conversation = Conversation.objects.create(user=bob, title="bob's")
    token = access_token_for(alice)

    agent_refused = call(live_url, token, "ask_agent", {"agent_id": bobs_agent.pk, "message": "hi"})
    conversation_refused = call(
        live_url, token, "ask_agent", {"agent_id": alices_agent.pk, "message": "hi", "conversation_id": bobs_conversation.pk}
    )

    assert error_text(agent_refused) == f"Error executing tool ask_agent: Unknown agent {bobs_agent.pk}: use list_agents to see yours."
    assert error_text(conversation_refused) == "Error executing tool ask_agent: Conversation not found."
    assert fake_llm.requests == []
    assert not Message.objects.filter(conversation__user=alice).exists()


def test_ask_agent_reports_a_failed_reply_in_plain_words(live_url: str, fake_llm: Any) -> None:
    alice = make_user()
    make_provider(alice, fake_llm, "openai")
    agent = Agent.objects.create(user=alice, name="a")
    fake_llm.script(*[Scenario(fault="500")] * 5)

    result = call(live_url, access_token_for(alice), "ask_agent", {"agent_id": agent.pk, "message": "hi"})

    assert error_text(result) == (
        "Error executing tool ask_agent: The agent could not answer: HTTP 500: the provider had an internal error (Scripted fault 500.)."
    )
    assert Message.objects.get(conversation__user=alice, role="assistant").status == "error"
