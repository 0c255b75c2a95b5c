"""The usage endpoints: the caller's own usage only, and every user's for admins."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.support.factories import api_client_for, make_admin, make_user
from usage.models import UsageAccount, UsageRecord

pytestmark = pytest.mark.django_db


def _record(user: Any, *, days_ago: int = 0, model: str = "m1", cost: int = 0, **extra: Any) -> UsageRecord:
    return UsageRecord.objects.create(
        user=user,
        model=model,
        kind="chat",
        prompt_tokens=extra.pop("prompt", 100),
        completion_tokens=extra.pop("completion", 10),
        cost_micros=cost,
        created_at=timezone.now() - timedelta(days=days_ago),
        **extra,
    )


def test_own_usage_has_totals_a_daily_series_and_models(user: Any) -> None:
    # given two days of the caller's usage and another user's
    _record(user, days_ago=1, cost=1_500_000)
    _record(user, model="m2", priced=False)
    _record(user, model="m2")
    _record(make_user(), cost=9_000_000, conversation_id="conv_ffffffffffffffff")
    # when
    response = api_client_for(user).get("/api/usage/")
    # then only the caller's is counted
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["period"] == "day" and data["currency"] == "USD"
    assert data["totals"] == {
        "calls": 3,
        "prompt_tokens": 300,
        "completion_tokens": 30,
        "cached_tokens": 0,
        "total_tokens": 330,
        "cost": 1.5,
        "unpriced_calls": 1,
    }
    today = timezone.localdate()
    assert [(p["date"], p["calls"]) for p in data["series"]] == [((today - timedelta(days=1)).isoformat(), 1), (today.isoformat(), 2)]
    assert [(m["model"], m["calls"], m["cost"]) for m in data["models"]] == [("m1", 1, 1.5), ("m2", 2, 0.0)]
    assert data["limits"] == []
    # and another user's conversation shows nothing
    other = api_client_for(user).get("/api/usage/?conversation_id=conv_ffffffffffffffff").json()["data"]
    assert other["totals"]["calls"] == 0 and other["models"] == []


def test_own_usage_by_month_and_by_conversation(user: Any) -> None:
    _record(user, conversation_id="conv_0123456789abcdef")
    _record(user, days_ago=100)
    client = api_client_for(user)
    by_month = client.get("/api/usage/?period=month").json()["data"]
    assert by_month["totals"]["calls"] == 2
    assert all(p["date"].endswith("-01") for p in by_month["series"])
    conversation = client.get("/api/usage/?conversation_id=conv_0123456789abcdef").json()["data"]
    assert conversation["totals"]["calls"] == 1
    assert conversation["from"] is None


def test_limits_are_listed_with_what_is_used(user: Any) -> None:
    UsageAccount.objects.create(user=user, tokens_per_day=1000, day=timezone.localdate(), day_tokens=250)
    limits = api_client_for(user).get("/api/usage/").json()["data"]["limits"]
    assert len(limits) == 1
    assert limits[0]["name"] == "tokens_per_day"
    assert (limits[0]["value"], limits[0]["used"]) == (1000, 250)
    assert limits[0]["resets_at"].endswith("T00:00:00+00:00")


@pytest.mark.parametrize("query", ["period=week", "period=", "from=yesterday", "to=", "from=", "conversation_id=nope", "conversation_id="])
def test_bad_query_values_are_named(user: Any, query: str) -> None:
    response = api_client_for(user).get(f"/api/usage/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["errors"]


def test_admins_see_every_user_and_others_are_refused(user: Any) -> None:
    admin = make_admin()
    other = make_user()
    _record(user, cost=1_000_000)
    _record(other, cost=2_000_000)
    assert api_client_for(user).get("/api/admin/usage/").status_code == 403
    assert api_client_for(None).get("/api/admin/usage/").status_code == 401
    data = api_client_for(admin).get("/api/admin/usage/?period=month").json()["data"]
    assert data["totals"]["cost"] == 3.0
    assert [(u["username"], u["cost"]) for u in data["users"]] == [(user.username, 1.0), (other.username, 2.0)]
    assert [(p["provider_id"], p["calls"]) for p in data["providers"]] == [(None, 2)]


@pytest.mark.parametrize("query", ["to=0001-01-01", "from=9999-12-31&to=0001-01-01", "from=0001-01-01&to=9999-12-31&period=month"])
def test_any_valid_dates_are_answered(user: Any, query: str) -> None:
    _record(user)
    response = api_client_for(user).get(f"/api/usage/?{query}")
    assert response.status_code == 200
    assert response.json()["data"]["totals"]["calls"] == (1 if "9999" in query and "to=9999" in query else 0)
