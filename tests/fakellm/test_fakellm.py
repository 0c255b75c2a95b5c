"""The fake LLM speaks both protocols well enough for the official SDKs, unmodified."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import anthropic
import httpx
import openai
import pytest

from fakellm import FakeLLM, Scenario, ToolCall


def oai(llm: FakeLLM, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=llm.base_url + "/v1", api_key="k", max_retries=kwargs.pop("max_retries", 0), **kwargs)


def anth(llm: FakeLLM) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=llm.base_url, api_key="k", max_retries=0)


def test_an_openai_stream_joins_back_to_the_text_and_reports_usage(fake_llm: FakeLLM) -> None:
    fake_llm.script(Scenario(text="Hello, world! 你好世界 and more."))

    chunks = list(
        oai(fake_llm).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}
        )
    )

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello, world! 你好世界 and more."
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == len([c for c in chunks if c.choices and c.choices[0].delta.content])
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_reasoning_content_comes_before_the_answer(fake_llm: FakeLLM) -> None:
    fake_llm.script(Scenario(thinking="step by step", text="42"))

    chunks = list(oai(fake_llm).chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}], stream=True))

    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks)
    assert reasoning == "step by step"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "42"


def test_two_parallel_tool_calls_reassemble_exactly(fake_llm: FakeLLM) -> None:
    arguments = [{"city": "Paris", "units": "metric", "note": '引号"quote"'}, {"q": "x" * 40}]
    fake_llm.script(Scenario(tool_calls=[ToolCall("weather", arguments[0], id="c1"), ToolCall("search", arguments[1], id="c2")]))

    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in oai(fake_llm).chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}], stream=True):
        for delta in chunk.choices[0].delta.tool_calls or []:
            slot = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            slot["id"] += delta.id or ""
            slot["name"] += (delta.function.name or "") if delta.function else ""
            slot["arguments"] += (delta.function.arguments or "") if delta.function else ""
        finish = chunk.choices[0].finish_reason or finish

    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("c1", "weather", arguments[0]),
        ("c2", "search", arguments[1]),
    ]
    assert finish == "tool_calls"


def test_a_non_streaming_completion_and_the_model_list(fake_llm: FakeLLM) -> None:
    fake_llm.script(Scenario(text="plain answer"))
    client = oai(fake_llm)

    completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])

    assert completion.choices[0].message.content == "plain answer"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert {m.id for m in client.models.list()} == {"fake-model", "fake-embedding"}


def test_embeddings_are_deterministic_normalised_and_similarity_ordered(fake_llm: FakeLLM) -> None:
    client = oai(fake_llm)

    result = client.embeddings.create(
        model="e", input=["the cat sat on the mat", "a cat on a mat", "quantum chromodynamics", "the cat sat on the mat"]
    )

    vectors = [item.embedding for item in result.data]
    assert len(vectors[0]) == 256
    assert math.isclose(sum(v * v for v in vectors[0]), 1.0, rel_tol=1e-5)
    assert vectors[0] == vectors[3]

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])


def test_the_azure_client_works_against_deployment_paths(fake_llm: FakeLLM) -> None:
    fake_llm.script(Scenario(text="from azure"))
    client = openai.AzureOpenAI(azure_endpoint=fake_llm.base_url, api_key="k", api_version="2024-10-21", max_retries=0)

    completion = client.chat.completions.create(model="my-deployment", messages=[{"role": "user", "content": "q"}])

    assert completion.choices[0].message.content == "from azure"
    assert fake_llm.requests[-1].path == "/openai/deployments/my-deployment/chat/completions"


def test_an_anthropic_stream_has_thinking_text_and_tool_use(fake_llm: FakeLLM) -> None:
    fake_llm.script(Scenario(thinking="hmm, let me see", text="Calling a tool.", tool_calls=[ToolCall("lookup", {"id": 7}, id="toolu_1")]))

    with anth(fake_llm).messages.stream(
        model="m", max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024}, messages=[{"role": "user", "content": "q"}]
    ) as stream:
        kinds = [event.type for event in stream]
        message = stream.get_final_message()

    assert kinds[0] == "message_start"
    assert {"content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"} <= set(kinds)
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[0].thinking == "hmm, let me see"
    assert message.content[0].signature == "fake-signature"
    assert message.content[1].text == "Calling a tool."
    assert (message.content[2].id, message.content[2].name, message.content[2].input) == ("toolu_1", "lookup", {"id": 7})
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens > 0


def test_anthropic_non_streaming_and_no_thinking_unless_asked(fake_llm: FakeLLM) -> None:
    fake_llm.script(Scenario(thinking="hidden", text="visible"))

    message = anth(fake_llm).messages.create(model="m", max_tokens=100, messages=[{"role": "user", "content": "q"}])

    assert [(b.type, b.text) for b in message.content] == [("text", "visible")]
    assert message.stop_reason == "end_turn"


def test_a_500_raises_the_sdks_server_error(fake_llm: FakeLLM) -> None:
    fake_llm.script(Scenario(fault="500"))

    with pytest.raises(openai.InternalServerError):
        oai(fake_llm).chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
    fake_llm.script(Scenario(fault="500"))
    with pytest.raises(anthropic.InternalServerError):
        anth(fake_llm).messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "q"}])


def test_a_429_then_success_is_retried_by_the_sdk(fake_llm: FakeLLM) -> None:
    fake_llm.script(Scenario(fault="429"), Scenario(text="second time lucky"))

    completion = oai(fake_llm, max_retries=2).chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])

    assert completion.choices[0].message.content == "second time lucky"
    assert len(fake_llm.requests) == 2


def test_a_drop_after_three_tokens_breaks_the_stream_after_exactly_three(fake_llm: FakeLLM) -> None:
    fake_llm.script(Scenario(text="a b c d e f", fault="drop_after:3"))

    received: list[str] = []
    finishes: list[str] = []
    try:
        for chunk in oai(fake_llm).chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}], stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
            if chunk.choices and chunk.choices[0].finish_reason:
                finishes.append(chunk.choices[0].finish_reason)
    except (openai.APIError, httpx.HTTPError):
        pass  # some transports raise on the cut; others just end: either way it never finishes

    assert "".join(received) == "a b c "
    assert finishes == []


def test_a_hang_trips_the_clients_timeout(fake_llm: FakeLLM) -> None:
    fake_llm.script(Scenario(fault="hang"))
    started = time.monotonic()

    with pytest.raises(openai.APITimeoutError):
        list(oai(fake_llm, timeout=0.5).chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}], stream=True))

    assert time.monotonic() - started < 5


def test_markers_script_a_reply_and_tool_results_end_a_loop(fake_llm: FakeLLM) -> None:
    client = oai(fake_llm)

    marked = client.chat.completions.create(model="m", messages=[{"role": "user", "content": 'go [[fake {"text": "scripted by marker"}]]'}])
    after_tool = client.chat.completions.create(
        model="m",
        messages=[
            {"role": "user", "content": 'go [[fake {"tool_calls": [{"name": "t", "arguments": {}}]}]]'},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c", "type": "function", "function": {"name": "t", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c", "content": "RESULT-42"},
        ],
    )
    default = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "plain"}])

    assert marked.choices[0].message.content == "scripted by marker"
    assert after_tool.choices[0].message.content == "Tool results: RESULT-42"
    assert default.choices[0].message.content == "You said: plain"


def test_the_control_api_scripts_and_lists_requests(fake_llm: FakeLLM) -> None:
    scripted = httpx.post(f"{fake_llm.base_url}/_fake/script", json={"scenarios": [{"text": "via http"}], "match": "magic"})
    bad = httpx.post(f"{fake_llm.base_url}/_fake/script", json={"scenarios": [{"nonsense": 1}]})

    reply = oai(fake_llm).chat.completions.create(model="m", messages=[{"role": "user", "content": "the magic word"}])
    recorded = httpx.get(f"{fake_llm.base_url}/_fake/requests").json()

    assert scripted.json() == {"queued": 1}
    assert bad.status_code == 400
    assert reply.choices[0].message.content == "via http"
    assert recorded[-1]["path"] == "/v1/chat/completions"
    assert recorded[-1]["body"]["messages"][0]["content"] == "the magic word"
    assert httpx.post(f"{fake_llm.base_url}/_fake/reset").json() == {"reset": True}
    assert fake_llm.requests == []


def test_a_required_key_is_checked() -> None:
    llm = FakeLLM(require_key="right").start()
    try:
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=llm.base_url + "/v1", api_key="wrong", max_retries=0).models.list()
        assert openai.OpenAI(base_url=llm.base_url + "/v1", api_key="right", max_retries=0).models.list().data
    finally:
        llm.stop()


def test_the_readmes_marker_examples_are_calls_the_tools_accept() -> None:
    # Given the examples of fakellm/README.md
    from pathlib import Path

    from fakellm.scenario import scenario_from_marker
    from toolbox.registry import ToolContext, tool_check_call

    readme = (Path(__file__).resolve().parents[2] / "fakellm" / "README.md").read_text()
    examples = [line.strip() for line in readme.splitlines() if line.strip().startswith("[[fake ")]
    calls = [call for example in examples for call in (scenario_from_marker(example) or Scenario()).tool_calls]
    assert [call.name for call in calls] == ["process_data"]

    # When each tool call is checked as a chat would check it, then none is refused
    ctx = ToolContext(user_id=1, permission_level=1)
    for call in calls:
        tool, arguments = tool_check_call(name=call.name, arguments=call.arguments, ctx=ctx)
        assert tool.name == call.name and arguments == call.arguments


def test_a_tool_name_the_real_apis_refuse_is_a_400_as_there(fake_llm: FakeLLM) -> None:
    function = {"type": "function", "function": {"name": "mcp.files.read", "parameters": {"type": "object"}}}

    with pytest.raises(openai.BadRequestError) as openai_error:
        oai(fake_llm).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], tools=[function])
    with pytest.raises(anthropic.BadRequestError) as anthropic_error:
        anth(fake_llm).messages.create(
            model="m",
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"name": "bad name", "input_schema": {"type": "object"}}],
        )

    assert "Invalid function name 'mcp.files.read'" in str(openai_error.value)
    assert "'bad name' should match pattern" in str(anthropic_error.value)


def test_the_event_loop_is_asyncio_or_uvloop_and_nothing_else() -> None:
    import asyncio

    import uvloop

    from fakellm.server import event_loop_factory

    for name, kind in (("asyncio", asyncio.AbstractEventLoop), ("uvloop", uvloop.Loop)):
        loop = event_loop_factory(name)()
        try:
            assert isinstance(loop, kind)
        finally:
            loop.close()
    with pytest.raises(ValueError, match="unknown event loop 'trio'"):
        event_loop_factory("trio")


def test_the_command_serves_a_stream_on_uvloop() -> None:
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(__file__).resolve().parents[2]
    server = subprocess.Popen(
        [sys.executable, "manage.py", "fakellm", "--port", str(port), "--loop", "uvloop"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
        deadline = time.monotonic() + 60
        while True:
            try:
                client.models.list()
                break
            except openai.APIConnectionError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the fake LLM did not start"
                time.sleep(0.2)
        prompt = '[[fake {"text": "Served on uvloop."}]]'
        chunks = client.chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}], stream=True)

        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Served on uvloop."
    finally:
        server.terminate()
        server.wait(10)
