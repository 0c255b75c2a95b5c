"""Pytest fixtures: one fake LLM server per test session, reset for every test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fakellm import FakeLLM


@pytest.fixture(scope="session")
def fake_llm_server() -> Iterator[FakeLLM]:
    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture
def fake_llm(fake_llm_server: FakeLLM, settings: Any) -> Iterator[FakeLLM]:
    """The fake LLM, reset, at an address an administrator allows every provider to reach
    (it runs on loopback, which providers of ordinary users may not reach otherwise)."""
    fake_llm_server.reset()
    settings.LUXX_PROVIDER_ALLOWED_ADDRESSES = [f"127.0.0.1:{fake_llm_server.port}"]
    yield fake_llm_server
    fake_llm_server.reset()
