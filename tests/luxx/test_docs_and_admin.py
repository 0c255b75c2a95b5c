"""API docs (schema, Swagger UI served from this server) and Django admin for users."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from tests.support.factories import DEFAULT_PASSWORD, make_admin, make_user

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_validates_without_a_single_warning(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    text = out.read_text()
    for path in (
        "/api/auth/login:",
        "/api/v1/users/login:",
        "/api/messages/stream:",
        "/api/providers/{provider_id}/test:",
        "/api/v1/agents:",
    ):
        assert path in text


def test_swagger_ui_loads_every_asset_from_this_server() -> None:
    client = Client()

    page = client.get("/api/docs/")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.content.decode())

    assert page.status_code == 200
    assert client.get("/docs").headers["Location"] == "/api/docs/"
    static = [a for a in assets if a.startswith("/static/")]
    assert len(static) >= 3
    assert not [a for a in assets if a.startswith(("http://", "https://", "//"))]
    for asset in static:
        response = client.get(asset)
        assert response.status_code == 200, asset
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 100, asset
    assert client.get("/api/schema/").status_code == 200


def test_an_admin_filters_users_and_sets_levels_in_bulk_but_keeps_an_admin() -> None:
    admin = make_admin(username="root")
    readers = [make_user(username=f"reader{i}") for i in range(2)]
    client = Client()
    assert client.login(username="root", password=DEFAULT_PASSWORD)

    changelist = client.get("/admin/accounts/user/?permission_level__exact=1&is_active__exact=1&q=reader")
    action = client.post(
        "/admin/accounts/user/",
        {"action": "set_level_3", "_selected_action": [u.pk for u in readers]},
        follow=True,
    )
    demote_all = client.post("/admin/accounts/user/", {"action": "set_level_1", "_selected_action": [admin.pk]}, follow=True)

    assert changelist.status_code == 200
    assert (
        b"reader0" in changelist.content
        and b"reader1" in changelist.content
        and b"root" not in changelist.content.split(b"result_list")[-1]
    )
    assert action.status_code == 200
    assert sorted(User.objects.filter(pk__in=[u.pk for u in readers]).values_list("permission_level", flat=True)) == [3, 3]
    admin.refresh_from_db()
    assert admin.permission_level == 4
    assert b"the last administrator keeps level 4" in demote_all.content


def test_createsuperuser_makes_a_level_4_admin() -> None:
    call_command("createsuperuser", "--noinput", "--username", "boss", "--email", "boss@example.com")

    boss = User.objects.get(username="boss")
    assert (boss.permission_level, boss.role, boss.is_staff, boss.is_superuser) == (4, "admin", True, True)
