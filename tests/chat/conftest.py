from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agents.models import Provider
from tests.support.factories import access_token_for, make_user
from toolbox.registry import Tool, ToolContext, registry


@pytest.fixture
def user(db: None) -> Any:
    return make_user(level=3)


@pytest.fixture
def token(user: Any) -> str:
    return access_token_for(user)


def make_provider(user: Any, fake_llm: Any, provider_type: str = "openai", **extra: Any) -> Provider:
    base = fake_llm.base_url + ("/v1" if provider_type == "openai" else "")
    provider = Provider(
        user=user,
        name=f"fake {provider_type}",
        provider_type=provider_type,
        base_url=base,
        default_model="fake-model",
        is_default=True,
        **extra,
    )
    provider.api_key = "sk-secret-key-for-tests-0123456789"
    provider.save()
    return provider


@pytest.fixture(params=["openai", "anthropic"])
def provider(request: pytest.FixtureRequest, user: Any, fake_llm: Any) -> Provider:
    return make_provider(user, fake_llm, request.param)


@pytest.fixture
def openai_provider(user: Any, fake_llm: Any) -> Provider:
    return make_provider(user, fake_llm, "openai")


async def _lookup_weather(args: dict[str, Any], ctx: ToolContext) -> Any:
    return {"city": args["city"], "forecast": "sunny", "user_id": ctx.user_id}


async def _broken(args: dict[str, Any], ctx: ToolContext) -> Any:
    raise RuntimeError("the tool exploded")


@pytest.fixture
def test_tools() -> Iterator[None]:
    """Two tools that exist only for a test: one that answers, one that raises."""
    weather = Tool(
        name="test_weather",
        description="Weather for a city",
        category="data",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        required_level=1,
        handler=_lookup_weather,
    )
    broken = Tool(
        name="test_broken", description="Always fails", category="data", parameters={"type": "object"}, required_level=1, handler=_broken
    )
    admin_only = Tool(
        name="test_admin_only",
        description="Needs level 4",
        category="code",
        parameters={"type": "object"},
        required_level=4,
        handler=_lookup_weather,
    )
    for tool in (weather, broken, admin_only):
        registry.register(tool)
    yield
    for tool in (weather, broken, admin_only):
        registry.unregister(tool.name)
