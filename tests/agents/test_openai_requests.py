"""The OpenAI adapter sends the request it builds as it is, past the SDK's parameter
transform: what reaches the model must be what the typed ``create`` would have sent."""

from __future__ import annotations

from typing import Any

import pytest
from openai._utils._transform import async_maybe_transform
from openai.types.chat import completion_create_params

from agents import llm
from agents.llm import ChatRequest, ProviderConfig, TextDelta, openai_adapter
from agents.llm.base import ToolSpec
from agents.llm.openai_adapter import build_params
from fakellm import Scenario

_IMAGE = {"media_type": "image/png", "data": "iVBORw0KGgo="}


def _rich_request() -> ChatRequest:
    return ChatRequest(
        model="fake-model",
        system="Be brief.",
        messages=[
            {"role": "user", "content": "What is in this picture?", "images": [_IMAGE]},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "name": "web_search", "arguments": '{"q": "x"}'}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "nothing found"},
            {"role": "assistant", "content": "A cat."},
            {"role": "user", "content": "Thanks — and in Chinese? 谢谢"},
        ],
        tools=[ToolSpec("web_search", "Search the web.", {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})],
        temperature=0.2,
        max_tokens=321,
    )


async def test_the_sdk_transform_would_change_nothing_in_a_request_luxx_builds() -> None:
    params = build_params(_rich_request())

    transformed = await async_maybe_transform(params, completion_create_params.CompletionCreateParamsStreaming)

    assert transformed == params


@pytest.mark.parametrize(
    ("kind", "path"),
    [("openai", "/v1/chat/completions"), ("azure", "/openai/deployments/fake-model/chat/completions")],
)
async def test_a_chat_reaches_the_model_as_built_with_its_key(fake_llm: Any, kind: str, path: str) -> None:
    fake_llm.script(Scenario(text="A cat, in Chinese: 猫"))
    base = fake_llm.base_url + ("/v1" if kind == "openai" else "")
    config = ProviderConfig(id=None, provider_type=kind, base_url=base, api_key="sk-test-key", default_model="fake-model")
    request = _rich_request()

    events = [event async for batch in llm.stream_chat(config, request) for event in batch]

    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "A cat, in Chinese: 猫"
    sent = fake_llm.requests[-1]
    assert sent.path == path
    assert sent.body == build_params(request)
    credential = sent.headers.get("Authorization") if kind == "openai" else sent.headers.get("api-key")
    assert credential in ("Bearer sk-test-key", "sk-test-key")


async def test_a_refusal_of_the_model_is_an_llm_error_with_its_status(fake_llm: Any) -> None:
    fake_llm.script(Scenario(fault="429"))
    config = ProviderConfig(id=None, provider_type="openai", base_url=fake_llm.base_url + "/v1", api_key="k", default_model="fake-model")

    request = ChatRequest(model="fake-model", messages=[{"role": "user", "content": "hi"}])

    with pytest.raises(llm.LLMError) as raised:
        [batch async for batch in openai_adapter.stream_chat(config, request)]

    assert raised.value.status_code == 429
    assert raised.value.retryable
