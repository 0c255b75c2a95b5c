"""Auth endpoints of both dialects: happy paths, token life cycle, bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import PermissionLevel, User
from tests.support.factories import DEFAULT_PASSWORD, access_token_for, make_admin, make_user

pytestmark = pytest.mark.django_db


def post(path: str, body: Any, token: str | None = None) -> Any:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.post(path, body, format="json")


def get(path: str, token: str | None = None) -> Any:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(path)


def register(username: str = "alice", email: str = "alice@example.com", password: str = "Passw0rd2024") -> Any:
    return post("/api/auth/register", {"username": username, "email": email, "password": password})


def login(identifier: str = "alice", password: str = "Passw0rd2024") -> Any:
    return post("/api/auth/login", {"username": identifier, "password": password})


def test_register_answers_the_seed_shape() -> None:
    response = register()

    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True and body["message"] == "Registration successful"
    assert body["data"] == {"id": User.objects.get(username="alice").pk, "username": "alice"}


def test_the_first_user_becomes_admin_and_the_next_gets_the_default_level() -> None:
    register()
    register("bob", "bob@example.com")

    alice, bob = User.objects.get(username="alice"), User.objects.get(username="bob")
    assert (alice.permission_level, alice.role, alice.is_staff) == (PermissionLevel.ADMIN, "admin", True)
    assert (bob.permission_level, bob.role, bob.is_staff) == (PermissionLevel.READ_ONLY, "user", False)


@pytest.mark.parametrize("identifier", ["alice", "ALICE", "alice@example.com", "Alice@Example.com"])
def test_login_by_username_or_email(identifier: str) -> None:
    register()

    response = login(identifier)

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Login successful"
    data = body["data"]
    assert data["token_type"] == "bearer"
    assert data["expires_in"] == 1800
    assert data["access_token"].count(".") == 2 and data["refresh_token"].count(".") == 2
    assert data["user"] == {
        "id": data["user"]["id"],
        "username": "alice",
        "email": "alice@example.com",
        "nickname": "",
        "avatar": "",
        "role": "admin",
        "permission_level": 4,
        "workspace_path": None,
        "is_active": True,
        "created_at": data["user"]["created_at"],
    }


def test_me_answers_the_current_user() -> None:
    register()
    token = login().json()["data"]["access_token"]

    data = get("/api/auth/me", token).json()["data"]

    assert (data["username"], data["email"], data["role"], data["permission_level"], data["is_active"]) == (
        "alice",
        "alice@example.com",
        "admin",
        4,
        True,
    )
    assert data["created_at"]


def test_refresh_rotates_and_the_old_refresh_token_is_refused() -> None:
    register()
    old = login().json()["data"]["refresh_token"]

    first = post("/api/auth/refresh", {"refresh_token": old})
    again = post("/api/auth/refresh", {"refresh_token": old})

    assert first.status_code == 200
    assert first.json()["data"]["refresh_token"] != old
    assert get("/api/auth/me", first.json()["data"]["access_token"]).status_code == 200
    assert again.status_code == 401
    assert again.json() == {"success": False, "message": "The refresh token is invalid, expired or revoked."}


def test_logout_revokes_the_access_and_the_refresh_token() -> None:
    register()
    tokens = login().json()["data"]

    response = post("/api/auth/logout", {"refresh_token": tokens["refresh_token"]}, tokens["access_token"])

    assert response.json() == {"success": True, "message": "Logout successful", "data": None}
    me = get("/api/auth/me", tokens["access_token"])
    assert me.status_code == 401
    assert me.json() == {"success": False, "message": "The token is invalid or expired."}
    assert post("/api/auth/refresh", {"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_logout_without_a_refresh_token_revokes_the_one_issued_with_the_access_token() -> None:
    register()
    session = login().json()["data"]
    other_session = login().json()["data"]

    response = post("/api/auth/logout", {}, session["access_token"])

    assert response.status_code == 200
    assert post("/api/auth/refresh", {"refresh_token": session["refresh_token"]}).status_code == 401
    assert get("/api/auth/me", session["access_token"]).status_code == 401
    assert post("/api/auth/refresh", {"refresh_token": other_session["refresh_token"]}).status_code == 200


def test_logout_after_a_refresh_revokes_the_rotated_refresh_token() -> None:
    register()
    first = login().json()["data"]
    rotated = post("/api/auth/refresh", {"refresh_token": first["refresh_token"]}).json()["data"]

    post("/api/auth/logout", {}, rotated["access_token"])

    assert post("/api/auth/refresh", {"refresh_token": rotated["refresh_token"]}).status_code == 401


def test_an_expired_token_is_refused() -> None:
    access = AccessToken.for_user(make_user())
    access.set_exp(lifetime=timedelta(seconds=-1))

    response = get("/api/auth/me", str(access))

    assert response.status_code == 401
    assert response.json()["message"] == "The token is invalid or expired."


def test_a_tampered_token_is_refused() -> None:
    token = access_token_for(make_user())
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"

    assert get("/api/auth/me", tampered).status_code == 401
    assert get("/api/auth/me", "not-a-token").status_code == 401


def test_a_deactivated_users_token_is_refused() -> None:
    user = make_user()
    token = access_token_for(user)
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = get("/api/auth/me", token)

    assert response.status_code == 401
    assert response.json()["success"] is False


def test_no_token_is_a_401_naming_the_problem() -> None:
    response = get("/api/auth/me")

    assert response.status_code == 401
    assert response.json() == {"success": False, "message": "Authentication credentials were not provided."}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"email": "a@example.com", "password": "Passw0rd2024"}, "username", "required"),
        ({"username": "a", "password": "Passw0rd2024"}, "email", "required"),
        ({"username": "a", "email": "a@example.com"}, "password", "required"),
        ({"username": "a", "email": "not-an-email", "password": "Passw0rd2024"}, "email", "valid email"),
        ({"username": 12, "email": "a@example.com", "password": "Passw0rd2024"}, "username", "string"),
        ({"username": "a", "email": "a@example.com", "password": 12345678}, "password", "string"),
        ({"username": "a", "email": "a@example.com", "password": "Ab1"}, "password", "too short"),
        ({"username": "a", "email": "a@example.com", "password": "1234567890123"}, "password", "letters and digits"),
        ({"username": "a", "email": "a@example.com", "password": "onlyletterslong"}, "password", "letters and digits"),
        ({"username": "a", "email": "a@example.com", "password": "password1"}, "password", "too common"),
        ({"username": "a b", "email": "a@example.com", "password": "Passw0rd2024"}, "username", "letters, digits"),
    ],
)
def test_register_rejects_bad_input_naming_the_field(body: dict, field: str, words: str) -> None:
    response = post("/api/auth/register", body)

    assert response.status_code == 400
    payload = response.json()
    assert payload["success"] is False
    assert field in payload["errors"]
    assert words in payload["message"]
    assert User.objects.count() == 0


def test_duplicates_are_refused_case_insensitively() -> None:
    register()

    same_name = register("ALICE", "other@example.com")
    same_email = register("other", "Alice@Example.COM")

    assert same_name.status_code == 400 and "username" in same_name.json()["errors"]
    assert same_email.status_code == 400 and "email" in same_email.json()["errors"]
    assert User.objects.count() == 1


def test_login_failures_do_not_tell_which_part_was_wrong() -> None:
    register()

    wrong_password = login(password="Wrong00pass")
    unknown_user = login("nobody")
    missing = post("/api/auth/login", {"username": "alice"})

    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.json() == unknown_user.json() == {"success": False, "message": "Invalid username or password."}
    assert missing.status_code == 400 and "password" in missing.json()["errors"]


def test_malformed_json_and_non_object_bodies_are_400() -> None:
    client = APIClient()

    malformed = client.post("/api/auth/login", data="{bad json", content_type="application/json")
    array = client.post("/api/auth/login", data="[1, 2]", content_type="application/json")

    assert malformed.status_code == 400 and malformed.json()["success"] is False
    assert "JSON parse error" in malformed.json()["message"]
    assert array.status_code == 400 and "JSON object" in array.json()["message"]


def test_logins_are_throttled_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from accounts.throttling import AuthRateThrottle

    monkeypatch.setattr(AuthRateThrottle, "THROTTLE_RATES", {"auth": "3/min"})
    statuses = [login("x", "Passw0rd2024").status_code for _ in range(4)]
    response = login("x", "Passw0rd2024")

    assert statuses == [401, 401, 401, 429]
    assert response.status_code == 429
    assert response.json()["message"].startswith("Too many requests. Try again in ")
    assert int(response["Retry-After"]) > 0


# --- v1 -----------------------------------------------------------------------------


def test_v1_register_login_refresh_me() -> None:
    registered = post("/api/v1/users/register", {"email": "zhang@example.com", "password": "Abc12345", "nickname": "张三"}).json()
    tokens = post("/api/v1/users/login", {"email": "zhang@example.com", "password": "Abc12345"}).json()
    refreshed = post("/api/v1/users/refresh", {"refresh_token": tokens["data"]["refresh_token"]}).json()
    me = get("/api/v1/users/me", refreshed["data"]["access_token"]).json()

    assert registered["code"] == 200 and registered["message"] == "success"
    assert {k: registered["data"][k] for k in ("email", "nickname")} == {"email": "zhang@example.com", "nickname": "张三"}
    assert set(registered["data"]) == {"id", "email", "nickname", "created_at"}
    assert set(tokens["data"]) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert (tokens["data"]["token_type"], tokens["data"]["expires_in"]) == ("bearer", 1800)
    assert refreshed["code"] == 200 and refreshed["data"]["refresh_token"] != tokens["data"]["refresh_token"]
    assert me == {
        "code": 200,
        "message": "success",
        "data": {
            "id": registered["data"]["id"],
            "email": "zhang@example.com",
            "nickname": "张三",
            "avatar": "",
            "created_at": me["data"]["created_at"],
        },
    }
    assert User.objects.get(email="zhang@example.com").username == "zhang"


def test_v1_login_errors_use_v1_codes() -> None:
    post("/api/v1/users/register", {"email": "zhang@example.com", "password": "Abc12345"})

    unknown = post("/api/v1/users/login", {"email": "nobody@example.com", "password": "Abc12345"})
    wrong = post("/api/v1/users/login", {"email": "zhang@example.com", "password": "Wrong1234"})
    missing = post("/api/v1/users/login", {"email": "zhang@example.com"})
    no_token = get("/api/v1/users/me")

    assert unknown.status_code == 400 and unknown.json() == {"code": 40001, "message": "User does not exist.", "data": None}
    assert wrong.status_code == 401 and wrong.json() == {"code": 40100, "message": "Wrong password.", "data": None}
    assert missing.status_code == 400 and missing.json() == {"code": 40000, "message": "password: This field is required.", "data": None}
    assert no_token.status_code == 401 and no_token.json()["code"] == 40100


def test_v1_register_refuses_weak_passwords_and_duplicates() -> None:
    post("/api/v1/users/register", {"email": "zhang@example.com", "password": "Abc12345"})

    weak = post("/api/v1/users/register", {"email": "li@example.com", "password": "12345678"})
    duplicate = post("/api/v1/users/register", {"email": "ZHANG@example.com", "password": "Abc12345"})

    assert weak.status_code == 400 and weak.json()["code"] == 40000 and weak.json()["message"].startswith("password:")
    assert duplicate.status_code == 400 and duplicate.json()["message"].startswith("email:")


def test_the_login_password_of_the_factory_user_works() -> None:
    user = make_user(username="carol")

    assert login("carol", DEFAULT_PASSWORD).status_code == 200
    assert make_admin().role == "admin" and user.role == "user"


def test_registration_reports_every_problem_at_once() -> None:
    # Given a taken username and email
    register()

    # When someone registers with both and a short, letters-only password
    response = register("Alice", "ALICE@example.com", "short")

    # Then each field's problem is named in the one answer
    errors = response.json()["errors"]
    assert response.status_code == 400
    assert errors["username"] == ["A user with this username already exists."]
    assert errors["email"] == ["A user with this email already exists."]
    assert errors["password"] == [
        "This password is too short. It must contain at least 8 characters.",
        "The password must contain both letters and digits.",
    ]
