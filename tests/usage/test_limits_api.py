"""Admins read and set a user's own limits over the API; everyone else is refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.support.factories import api_client_for, make_admin, make_user
from usage.models import LevelLimit, UsageAccount

pytestmark = pytest.mark.django_db

NONE = {
    "tokens_per_day": None,
    "tokens_per_month": None,
    "cost_per_day": None,
    "cost_per_month": None,
    "concurrent_streams": None,
    "requests_per_minute": None,
}


def _url(user_id: int) -> str:
    return f"/api/admin/users/{user_id}/limits"


def test_it_shows_own_level_and_effective_limits() -> None:
    # given a level default and a user's own limit that overrides another
    admin, user = make_admin(), make_user(level=2)
    LevelLimit.objects.create(permission_level=2, tokens_per_day=1000, cost_per_month=Decimal("5.5"))
    UsageAccount.objects.create(user=user, tokens_per_day=50, day_tokens=7)
    # when an admin reads them
    response = api_client_for(admin).get(_url(user.pk))
    # then each set is there, the effective one the user's own else the level's
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {
        "user_id": user.pk,
        "permission_level": 2,
        "currency": "USD",
        "own": {**NONE, "tokens_per_day": 50},
        "level": {**NONE, "tokens_per_day": 1000, "cost_per_month": 5.5},
        "effective": {**NONE, "tokens_per_day": 50, "cost_per_month": 5.5},
    }


def test_it_sets_the_limits_given_and_keeps_the_others() -> None:
    admin, user = make_admin(), make_user(level=2)
    LevelLimit.objects.create(permission_level=2, tokens_per_day=1000)
    UsageAccount.objects.create(user=user, tokens_per_day=50, concurrent_streams=3, day_tokens=7)
    client = api_client_for(admin)

    body = {"tokens_per_day": None, "cost_per_day": 1.25, "cost_per_month": 0.00001, "requests_per_minute": 0}
    response = client.put(_url(user.pk), body, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["message"] == "Limits updated"
    # (a cost is rounded up to 4 places: a small limit never becomes 0)
    own = {**NONE, "cost_per_day": 1.25, "cost_per_month": 0.0001, "concurrent_streams": 3, "requests_per_minute": 0}
    assert body["data"]["own"] == own
    assert body["data"]["effective"] == {**own, "tokens_per_day": 1000}
    account = UsageAccount.objects.get(user=user)
    stored = (account.tokens_per_day, account.cost_per_day, account.cost_per_month, account.day_tokens)
    assert stored == (None, Decimal("1.25"), Decimal("0.0001"), 7)
    assert client.get(_url(user.pk)).json()["data"] == body["data"]


def test_it_creates_the_users_row_when_they_have_none() -> None:
    admin, user = make_admin(), make_user()
    response = api_client_for(admin).put(_url(user.pk), {"tokens_per_month": 10**12}, format="json")
    assert response.status_code == 200, response.content
    assert UsageAccount.objects.get(user=user).tokens_per_month == 10**12


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"tokens_per_day": -1}, "tokens_per_day", "Ensure this value is greater than or equal to 0."),
        ({"tokens_per_day": "100"}, "tokens_per_day", "Must be an integer."),
        ({"tokens_per_day": 1.5}, "tokens_per_day", "Must be an integer."),
        ({"concurrent_streams": True}, "concurrent_streams", "Must be an integer."),
        ({"concurrent_streams": 2**31}, "concurrent_streams", "Ensure this value is less than or equal to 2147483647."),
        ({"cost_per_day": "1.5"}, "cost_per_day", "Must be a number."),
        ({"cost_per_day": -0.5}, "cost_per_day", "Must be 0 or more."),
        ({"cost_per_month": 1e9}, "cost_per_month", "Must be at most 99999999.9999."),
        ({"token_per_day": 5}, "token_per_day", "Unknown limit; the limits are tokens_per_day, tokens_per_month, cost_per_day, "),
        ({}, "non_field_errors", "Name at least one limit to set."),
        ([1], "non_field_errors", "The request body must be a JSON object."),
    ],
)
def test_it_refuses_bad_input_naming_the_field(body: Any, field: str, message: str) -> None:
    admin, user = make_admin(), make_user()
    UsageAccount.objects.create(user=user, tokens_per_day=50)

    response = api_client_for(admin).put(_url(user.pk), body, format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == [field] and errors[field][0].startswith(message)
    assert UsageAccount.objects.get(user=user).tokens_per_day == 50  # nothing changed


@pytest.mark.parametrize("method", ["get", "put"])
def test_a_non_admin_is_refused_even_for_their_own_limits(method: str) -> None:
    user = make_user(level=3)
    client = api_client_for(user)
    response = client.get(_url(user.pk)) if method == "get" else client.put(_url(user.pk), {"tokens_per_day": None}, format="json")
    assert response.status_code == 403
    assert response.json()["success"] is False
    assert not UsageAccount.objects.filter(user=user).exists()


@pytest.mark.parametrize("method", ["get", "put"])
def test_an_unknown_user_is_a_404(method: str) -> None:
    admin = make_admin()
    client, url = api_client_for(admin), _url(admin.pk + 1000)
    response = client.get(url) if method == "get" else client.put(url, {"tokens_per_day": 5}, format="json")
    assert response.status_code == 404
    assert response.json()["success"] is False


def test_an_anonymous_caller_is_a_401() -> None:
    user = make_user()
    assert api_client_for().get(_url(user.pk)).status_code == 401
