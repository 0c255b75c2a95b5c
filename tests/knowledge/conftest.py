"""Fixtures shared by the knowledge tests: a user and an API client signed in as them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.factories import api_client_for, make_user


@pytest.fixture
def user() -> Any:
    return make_user()


@pytest.fixture
def client(user: Any) -> Any:
    return api_client_for(user)
