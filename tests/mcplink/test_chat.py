"""An MCP tool called by the model in a real chat turn (the fake LLM over HTTP, through
the OpenAI and the Anthropic SDK), streamed as tool_call/tool_result steps."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from accounts.models import PermissionLevel
from fakellm import Scenario, ToolCall
from tests.chat.conftest import make_provider
from tests.chat.test_stream import assert_stream_matches_stored, create_conversation, send
from tests.support.factories import access_token_for, make_user
from toolbox.models import ToolExecution
from toolbox.registry import MAX_RESULT_CHARS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["openai", "anthropic"])
def provider_type(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def offered_tool_names(body: dict[str, Any]) -> list[str]:
    return [(tool.get("function") or tool)["name"] for tool in body.get("tools") or []]


def test_the_model_calls_an_mcp_tool_and_the_reply_streams_its_steps(
    live_url: str, user: Any, fake_llm: Any, provider_type: str, shared_server: dict[str, Any]
) -> None:
    make_provider(user, fake_llm, provider_type)
    token = access_token_for(user)
    # The model sees the tool under a name its API accepts, and calls it by that name.
    fake_llm.script(
        Scenario(text="Let me ask the server.", tool_calls=[ToolCall("mcp_tests_echo", {"text": "hello"}, id="call_1")]),
        Scenario(text="The server said hello."),
    )
    conversation_id = create_conversation(live_url, token)

    _, events = send(live_url, token, conversation_id, "Echo hello", enabled_tools=["mcp.tests.echo"])

    message = assert_stream_matches_stored(events)
    steps = [{k: v for k, v in step.items() if k not in ("id", "index")} for step in message.process_steps]
    assert steps == [
        {"type": "text", "content": "Let me ask the server."},
        {"type": "tool_call", "id_ref": "call_1", "name": "mcp.tests.echo", "arguments": json.dumps({"text": "hello"})},
        {"type": "tool_result", "id_ref": "call_1", "name": "mcp.tests.echo", "content": "echo: hello", "success": True},
        {"type": "text", "content": "The server said hello."},
    ]
    streamed = [e.data["step"] for e in events if e.event == "process_step"]
    assert [s["type"] for s in streamed if s["type"] in ("tool_call", "tool_result")] == ["tool_call", "tool_result"]
    first, second = fake_llm.requests
    assert offered_tool_names(first.body) == offered_tool_names(second.body) == ["mcp_tests_echo"]
    assert "echo: hello" in json.dumps(second.body["messages"])
    record = ToolExecution.objects.get(tool_name="mcp.tests.echo")
    assert (record.conversation_id, record.success) == (conversation_id, True)


def test_a_user_below_the_servers_level_gets_a_failed_result_in_a_chat(live_url: str, fake_llm: Any, shared_server: dict[str, Any]) -> None:
    reader = make_user(level=PermissionLevel.READ_ONLY)
    make_provider(reader, fake_llm, "openai")
    token = access_token_for(reader)
    fake_llm.script(Scenario(tool_calls=[ToolCall("mcp.tests.echo", {"text": "hi"}, id="call_1")]), Scenario(text="I could not."))
    conversation_id = create_conversation(live_url, token)

    _, events = send(live_url, token, conversation_id, "Echo hi", enabled_tools=["mcp.tests.echo"])

    message = assert_stream_matches_stored(events)
    result = next(step for step in message.process_steps if step["type"] == "tool_result")
    assert result["success"] is False
    assert json.loads(result["content"]) == {"error": "The tool mcp.tests.echo needs permission level 3 (EXECUTE); you have 1 (READ_ONLY)."}
    assert offered_tool_names(fake_llm.requests[0].body) == []
    assert ToolExecution.objects.get(tool_name="mcp.tests.echo").rejected_status == 403


def test_a_server_that_is_down_mid_chat_gives_a_failed_result_and_the_reply_goes_on(
    live_url: str, user: Any, fake_llm: Any, shared_server: dict[str, Any], closed_port_url: str
) -> None:
    from mcplink.models import McpServer

    make_provider(user, fake_llm, "openai")
    token = access_token_for(user)
    McpServer.objects.filter(pk=shared_server["id"]).update(url=closed_port_url)
    fake_llm.script(Scenario(tool_calls=[ToolCall("mcp_tests_echo", {"text": "hi"}, id="call_1")]), Scenario(text="The server is down."))
    conversation_id = create_conversation(live_url, token)

    _, events = send(live_url, token, conversation_id, "Echo hi", enabled_tools=["mcp.tests.echo"])

    message = assert_stream_matches_stored(events)
    result = next(step for step in message.process_steps if step["type"] == "tool_result")
    assert result["success"] is False
    assert json.loads(result["content"])["error"].startswith("The MCP server tests could not be reached:")
    assert message.status == "complete" and message.content == "The server is down."


def test_an_agents_mcp_tools_are_offered_in_its_chats(live_url: str, user: Any, fake_llm: Any, shared_server: dict[str, Any]) -> None:
    from agents.models import Agent

    make_provider(user, fake_llm, "openai")
    token = access_token_for(user)
    agent = Agent.objects.create(user=user, name="Echoer", enabled_tools=["mcp.tests.echo", "mcp.tests.sleep"])
    fake_llm.script(Scenario(text="Ready."))
    conversation_id = create_conversation(live_url, token, agent_id=agent.pk)

    send(live_url, token, conversation_id, "Hi")

    assert offered_tool_names(fake_llm.requests[0].body) == ["mcp_tests_echo", "mcp_tests_sleep"]


def test_a_chat_may_not_enable_another_users_server_tools(live_url: str, user: Any, fake_llm: Any, settings: Any, mcp_url: str) -> None:
    from mcplink.models import McpServer

    other = make_user(level=3)
    McpServer.objects.create(user=other, name="theirs", url=mcp_url, tools=[{"name": "echo", "description": "", "input_schema": {}}])
    make_provider(user, fake_llm, "openai")
    token = access_token_for(user)
    conversation_id = create_conversation(live_url, token)

    response, _ = send(live_url, token, conversation_id, "Hi", enabled_tools=["mcp.theirs.echo"])

    assert response.status_code == 400
    assert response.json()["errors"]["enabled_tools"] == ["Unknown tools: mcp.theirs.echo."]
    assert fake_llm.requests == []


def test_a_tool_that_outlasts_the_servers_limit_fails_and_the_turn_goes_on(
    live_url: str, user: Any, fake_llm: Any, shared_server: dict[str, Any]
) -> None:
    make_provider(user, fake_llm, "openai")
    token = access_token_for(user)
    fake_llm.script(Scenario(tool_calls=[ToolCall("mcp_tests_sleep", {"seconds": 30}, id="call_1")]), Scenario(text="It took too long."))
    conversation_id = create_conversation(live_url, token)
    started = time.monotonic()

    _, events = send(live_url, token, conversation_id, "Sleep", enabled_tools=["mcp.tests.sleep"])

    message = assert_stream_matches_stored(events)
    result = next(step for step in message.process_steps if step["type"] == "tool_result")
    assert result["success"] is False
    assert json.loads(result["content"]) == {"error": "The MCP server tests did not answer within 2 seconds."}
    assert message.status == "complete" and message.content == "It took too long."
    assert time.monotonic() - started < 20


def test_an_agent_holding_another_users_server_tool_is_not_offered_it(live_url: str, user: Any, fake_llm: Any, mcp_url: str) -> None:
    from agents.models import Agent
    from mcplink.models import McpServer

    other = make_user(level=3)
    McpServer.objects.create(user=other, name="theirs", url=mcp_url, tools=[{"name": "echo", "description": "", "input_schema": {}}])
    # Stored directly: the agents API refuses the name (tested above), an old row or an import may not.
    agent = Agent.objects.create(user=user, name="Stale", enabled_tools=["mcp.theirs.echo", "process_data"])
    make_provider(user, fake_llm, "openai")
    token = access_token_for(user)
    fake_llm.script(Scenario(tool_calls=[ToolCall("mcp_theirs_echo", {"text": "hi"}, id="call_1")]), Scenario(text="No such tool."))
    conversation_id = create_conversation(live_url, token, agent_id=agent.pk)

    _, events = send(live_url, token, conversation_id, "Echo hi")

    message = assert_stream_matches_stored(events)
    assert offered_tool_names(fake_llm.requests[0].body) == ["process_data"]
    result = next(step for step in message.process_steps if step["type"] == "tool_result")
    assert result["success"] is False
    assert json.loads(result["content"]) == {"error": "Unknown tool: mcp_theirs_echo."}
    assert not ToolExecution.objects.exists()


def test_a_tool_that_errors_and_a_result_too_large_are_failed_results_in_a_chat(
    live_url: str, user: Any, fake_llm: Any, shared_server: dict[str, Any]
) -> None:
    make_provider(user, fake_llm, "openai")
    token = access_token_for(user)
    fake_llm.script(
        Scenario(
            tool_calls=[
                ToolCall("mcp_tests_fail", {"reason": "no luck"}, id="call_1"),
                ToolCall("mcp_tests_big", {"size": MAX_RESULT_CHARS + 1}, id="call_2"),
            ]
        ),
        Scenario(text="Neither worked."),
    )
    conversation_id = create_conversation(live_url, token)

    _, events = send(live_url, token, conversation_id, "Try both", enabled_tools=["mcp.tests.fail", "mcp.tests.big"])

    message = assert_stream_matches_stored(events)
    results = {step["id_ref"]: step for step in message.process_steps if step["type"] == "tool_result"}
    assert [results[ref]["success"] for ref in ("call_1", "call_2")] == [False, False]
    assert json.loads(results["call_1"]["content"]) == {
        "error": "The tool fail of the MCP server tests reported an error: Error executing tool fail: failed on purpose: no luck"
    }
    assert json.loads(results["call_2"]["content"]) == {
        "error": "The tool big of the MCP server tests returned 64,001 characters, "
        "more than the 64,000 a tool result may have; ask it for less."
    }
    assert message.status == "complete" and message.content == "Neither worked."
