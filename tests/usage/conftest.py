from __future__ import annotations

from typing import Any

import pytest

from agents.models import Provider
from tests.chat.conftest import make_provider, test_tools

__all__ = ["test_tools"]
from tests.support.factories import access_token_for, make_user


@pytest.fixture
def user(db: None) -> Any:
    return make_user(level=3)


@pytest.fixture
def token(user: Any) -> str:
    return access_token_for(user)


@pytest.fixture
def openai_provider(user: Any, fake_llm: Any) -> Provider:
    return make_provider(user, fake_llm, "openai")


@pytest.fixture(params=["openai", "anthropic"])
def provider(request: pytest.FixtureRequest, user: Any, fake_llm: Any) -> Provider:
    return make_provider(user, fake_llm, request.param)
