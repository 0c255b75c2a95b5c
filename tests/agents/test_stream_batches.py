"""Model streams are relayed a network read at a time: every event that arrived in one
read is parsed together and its consecutive deltas become one, in order and complete."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agents import llm
from agents.llm import ChatRequest, ProviderConfig, TextDelta, ThinkingDelta
from agents.llm.sse import sse_data_batches
from agents.llm.transport import response_chunks
from agents.runtime import AgentTurn, TurnSpec
from fakellm import Scenario


async def _chunks(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _batches(*chunks: bytes) -> list[list[bytes]]:
    return [batch async for batch in sse_data_batches(_chunks(*chunks))]


async def test_each_read_gives_the_data_lines_it_completed() -> None:
    batches = await _batches(b"data: 1\n\ndata: 2\n", b"\ndata: 3", b"3\n\n: comment\n", b"data: [DONE]")

    assert batches == [[b"1", b"2"], [b"33"], [b"[DONE]"]]


async def test_a_read_without_a_line_end_gives_nothing_yet() -> None:
    batches = await _batches(b"da", b"ta: {}", b"\n")

    assert batches == [[b"{}"]]


def _config(fake_llm: Any, kind: str) -> ProviderConfig:
    base = fake_llm.base_url + ("" if kind == "anthropic" else "/v1")
    return ProviderConfig(id=None, provider_type=kind, base_url=base, api_key="k", default_model="fake-model")


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_burst_of_tokens_arrives_as_few_batches_with_the_whole_text(fake_llm: Any, kind: str) -> None:
    # Given a model that writes 400 tokens as fast as it can (they pile up between reads)
    words = " ".join(f"w{i}" for i in range(400))
    fake_llm.script(Scenario(text=words, thinking="Let me think about it."))
    request = ChatRequest(model="fake-model", messages=[{"role": "user", "content": "hi"}], thinking=True)

    # When the call is streamed
    batches = [batch async for batch in llm.stream_chat(_config(fake_llm, kind), request)]

    # Then the text is whole and in order, thinking first, and no batch holds two deltas of
    # the same kind one after the other
    events = [event for batch in batches for event in batch]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == words
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "Let me think about it."
    kinds = [type(e) for e in events if isinstance(e, (TextDelta, ThinkingDelta))]
    assert kinds.index(TextDelta) > kinds.index(ThinkingDelta)
    for batch in batches:
        deltas = [type(e) for e in batch]
        assert all(not (a is b and a in (TextDelta, ThinkingDelta)) for a, b in itertools.pairwise(deltas))
    # And fewer pieces reach the turn than the model wrote
    text_pieces = sum(1 for e in events if isinstance(e, TextDelta))
    assert text_pieces < 400
    # (each merged delta still counts the model's deltas in it: the tokens-relayed metric)
    assert sum(e.pieces for e in events if isinstance(e, TextDelta)) == 400
    assert isinstance(events[-1], llm.StreamEnd)


async def test_a_turn_grows_its_steps_a_batch_at_a_time(fake_llm: Any) -> None:
    words = " ".join(f"w{i}" for i in range(300))
    fake_llm.script(Scenario(text=words))
    turn = AgentTurn(TurnSpec(provider=_config(fake_llm, "openai"), model="fake-model", messages=[{"role": "user", "content": "hi"}]))

    updates = [update async for update in turn.run()]

    assert "".join(u.piece["content"] for u in updates) == words == turn.text
    assert [u.created for u in updates].count(True) == 1
    assert len(updates) < 300
    assert sum(u.pieces for u in updates) == 300
    assert turn.usage["completion_tokens"] > 0


async def test_a_stream_is_read_from_aiohttp_directly(fake_llm: Any) -> None:
    # The httpx layer above aiohttp costs awaits per read: a plain stream skips it.
    from agents.llm.clients import client_for
    from agents.llm.transport import aiohttp_response

    fake_llm.script(Scenario(text="Hello there."))
    client = client_for(_config(fake_llm, "openai"))
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with client.chat.completions.with_streaming_response.create(**body) as response:
        raw = aiohttp_response(response.http_response)
        assert raw is not None
        assert b"Hello" in b"".join([chunk async for chunk in response_chunks(response.http_response)])
