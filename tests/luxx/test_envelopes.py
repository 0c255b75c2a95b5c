"""Every answer under /api/ and /api/v1/ wears its dialect's envelope, errors included."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from tests.support.factories import api_client_for, make_admin, make_user

pytestmark = pytest.mark.django_db


def test_an_unknown_url_is_a_404_in_each_dialect() -> None:
    client = APIClient()

    luxx = client.get("/api/no/such/thing")
    v1 = client.post("/api/v1/nothing-here", {}, format="json")

    assert luxx.status_code == 404
    assert luxx.json() == {"success": False, "message": "No API endpoint at /api/no/such/thing."}
    assert v1.status_code == 404
    assert v1.json() == {"code": 40400, "message": "No API endpoint at /api/v1/nothing-here.", "data": None}


def test_a_wrong_method_is_a_405_in_each_dialect() -> None:
    token_client = api_client_for(make_user())

    luxx = token_client.delete("/api/auth/me")
    v1 = token_client.delete("/api/v1/users/me")

    assert luxx.status_code == 405
    assert luxx.json() == {"success": False, "message": 'Method "DELETE" not allowed.'}
    assert v1.status_code == 405
    assert v1.json() == {"code": 40500, "message": 'Method "DELETE" not allowed.', "data": None}


def test_an_unexpected_error_is_a_500_without_a_trace() -> None:
    client = APIClient(raise_request_exception=False)

    luxx = client.get("/api/__test__/explode")
    v1 = client.get("/api/v1/__test__/explode")

    assert luxx.status_code == 500
    assert luxx.json() == {"success": False, "message": "An unexpected error occurred on the server."}
    assert v1.status_code == 500
    assert v1.json() == {"code": 50000, "message": "An unexpected error occurred on the server.", "data": None}
    for response in (luxx, v1):
        assert b"Traceback" not in response.content and b"sk-should-never-leak" not in response.content


def test_non_admins_get_403_on_admin_endpoints() -> None:
    target = make_user()
    client = api_client_for(make_user(level=3))

    listing = client.get("/api/auth/users")
    update = client.put(f"/api/auth/users/{target.pk}", {"permission_level": 4}, format="json")

    assert listing.status_code == update.status_code == 403
    assert listing.json() == {"success": False, "message": "This needs an administrator (permission level 4)."}
    target.refresh_from_db()
    assert target.permission_level == 1


def test_admins_list_and_update_users() -> None:
    admin = make_admin()
    target = make_user()
    client = api_client_for(admin)

    listing = client.get("/api/auth/users").json()["data"]
    update = client.put(f"/api/auth/users/{target.pk}", {"permission_level": 3, "workspace_path": "/srv/ws/t"}, format="json").json()
    deactivate = client.put(f"/api/auth/users/{target.pk}", {"is_active": False}, format="json").json()
    promote = client.put(f"/api/auth/users/{target.pk}", {"permission_level": 4}, format="json").json()["data"]

    assert listing["total"] == 2 and [u["username"] for u in listing["users"]] == [admin.username, target.username]
    assert (update["data"]["permission_level"], update["data"]["role"], update["data"]["workspace_path"]) == (3, "user", "/srv/ws/t")
    assert deactivate["data"]["is_active"] is False
    assert (promote["role"], promote["permission_level"]) == ("admin", 4)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"permission_level": 5}, "permission_level"),
        ({"permission_level": "2"}, "permission_level"),
        ({"is_active": "no"}, "is_active"),
        ({}, "non_field_errors"),
    ],
)
def test_admin_update_rejects_bad_input(body: dict, field: str) -> None:
    target = make_user()

    response = api_client_for(make_admin()).put(f"/api/auth/users/{target.pk}", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_admin_update_of_an_unknown_user_is_404() -> None:
    assert api_client_for(make_admin()).put("/api/auth/users/999999", {"permission_level": 2}, format="json").status_code == 404


def test_the_last_admin_can_be_neither_demoted_nor_deactivated() -> None:
    admin = make_admin()
    client = api_client_for(admin)

    demote = client.put(f"/api/auth/users/{admin.pk}", {"permission_level": 2}, format="json")
    deactivate = client.put(f"/api/auth/users/{admin.pk}", {"is_active": False}, format="json")
    second = make_admin()
    allowed = client.put(f"/api/auth/users/{second.pk}", {"permission_level": 2}, format="json")

    assert demote.status_code == deactivate.status_code == 403
    assert demote.json()["message"] == "The last administrator cannot be demoted or deactivated."
    admin.refresh_from_db()
    assert (admin.permission_level, admin.is_active) == (4, True)
    assert allowed.status_code == 200


def test_health_and_info() -> None:
    client = APIClient()

    assert client.get("/api/health").json() == {"status": "ok", "message": "Luxx API is running"}
    assert client.get("/api/").json() == {"name": "Luxx", "version": "1.0.0", "description": "AI Chat API"}
    v1 = client.get("/api/v1/health").json()
    assert (v1["status"], v1["version"]) == ("ok", "1.0.0")
    assert v1["timestamp"].endswith("Z")


def test_health_is_503_when_the_database_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import connection

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", unreachable)
    client = APIClient()

    luxx = client.get("/api/health")
    v1 = client.get("/api/v1/health")

    assert luxx.status_code == 503 and luxx.json() == {"status": "error", "message": "Database is unreachable"}
    assert v1.status_code == 503 and v1.json()["status"] == "error"
