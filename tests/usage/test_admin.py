"""Django admin lists the ledger with filters and exports it as CSV; prices are edited there."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client

from tests.support.factories import make_admin, make_user
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db


def test_usage_rows_are_listed_filtered_and_exported_as_csv() -> None:
    admin = make_admin()
    user = make_user()
    UsageRecord.objects.create(user=user, model="=cmd()", kind="chat", prompt_tokens=10, completion_tokens=5, cost_micros=1234)
    UsageRecord.objects.create(user=user, model="m2", kind="embedding", prompt_tokens=7)
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/usage/usagerecord/?kind__exact=embedding")
    assert listing.status_code == 200
    assert [r.model for r in listing.context_data["cl"].result_list] == ["m2"]
    ids = [str(pk) for pk in UsageRecord.objects.values_list("pk", flat=True)]
    exported = client.post("/admin/usage/usagerecord/", {"action": "export_csv", "_selected_action": ids})
    assert exported.status_code == 200
    assert exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert [(r["username"], r["model"], r["kind"], r["cost"]) for r in rows] == [
        (user.username, "'=cmd()", "chat", "0.001234"),
        (user.username, "m2", "embedding", "0.000000"),
    ]


@pytest.mark.parametrize("path", ["/admin/usage/modelprice/add/", "/admin/usage/levellimit/add/", "/admin/usage/usageaccount/add/"])
def test_prices_and_limits_have_admin_forms(path: str) -> None:
    client: Any = Client()
    client.force_login(make_admin())
    assert client.get(path).status_code == 200
