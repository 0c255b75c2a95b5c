"""The server-rendered pages: sign-in, registration, sign-out, login-protected shells,
and a session that calls the JSON API with its CSRF token."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.models import User
from tests.support.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-42"
PAGES = ["/", "/c/conv_abc", "/agents/", "/rooms/", "/rooms/room_abc", "/knowledge/", "/settings/"]


def test_the_login_page_renders_its_form() -> None:
    response = Client().get("/login/")

    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="username"' in body and 'name="password"' in body and "csrfmiddlewaretoken" in body
    assert '<label for="id_username">Username or email</label>' in body


def test_logging_in_with_the_form_sets_the_session_and_redirects() -> None:
    user = make_user(username="ada", password=PASSWORD)
    client = Client()

    response = client.post("/login/", {"username": "ada", "password": PASSWORD, "next": "/agents/"})

    assert response.status_code == 302
    assert response["Location"] == "/agents/"
    assert client.session["_auth_user_id"] == str(user.pk)


def test_logging_in_by_email_works_and_an_outside_next_url_is_ignored() -> None:
    make_user(username="ada", email="ada@example.com", password=PASSWORD)
    client = Client()

    response = client.post("/login/", {"username": "ada@example.com", "password": PASSWORD, "next": "https://evil.example/"})

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_a_wrong_password_shows_an_error_and_no_session() -> None:
    make_user(username="ada", password=PASSWORD)
    client = Client()

    response = client.post("/login/", {"username": "ada", "password": "wrong-password-1"})

    assert response.status_code == 200
    assert "Wrong username or password." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_registering_creates_the_user_signs_in_and_the_first_user_is_admin() -> None:
    client = Client()

    response = client.post(
        "/register/", {"username": "ada", "email": "ada@example.com", "password": PASSWORD, "password_confirm": PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(username="ada")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert user.role == "admin"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"password_confirm": "other-horse-42"}, "password_confirm", "The two passwords do not match."),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"password": "short1", "password_confirm": "short1"}, "password", "at least 8 characters"),
        ({"username": ""}, "username", "This field is required."),
    ],
)
def test_registration_errors_are_shown_next_to_their_field(data: dict[str, str], field: str, message: str) -> None:
    form = {"username": "ada", "email": "ada@example.com", "password": PASSWORD, "password_confirm": PASSWORD, **data}

    response = Client().post("/register/", form)

    assert response.status_code == 200
    assert message in response.context["form"].errors[field][0]
    assert message in response.content.decode()
    assert not User.objects.filter(username="ada").exists() or data.get("username") == ""


def test_registering_a_taken_username_says_so() -> None:
    make_user(username="ada", password=PASSWORD)

    response = Client().post(
        "/register/", {"username": "ADA", "email": "other@example.com", "password": PASSWORD, "password_confirm": PASSWORD}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["username"] == ["A user with this username already exists."]


@pytest.mark.parametrize("path", PAGES)
def test_pages_require_a_login(path: str) -> None:
    response = Client().get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_for_a_signed_in_user_with_strings_and_user(path: str) -> None:
    user = make_user(username="ada", password=PASSWORD)
    client = Client()
    client.force_login(user)

    response = client.get(path)

    assert response.status_code == 200
    body = response.content.decode()
    assert '<meta name="csrf-token"' in body
    assert 'id="luxx-strings"' in body and 'id="luxx-user"' in body
    assert '<nav class="rail" aria-label="Main">' in body


def test_logout_is_a_post_that_ends_the_session() -> None:
    client = Client()
    client.force_login(make_user(username="ada", password=PASSWORD))

    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert "_auth_user_id" not in client.session


def test_the_session_calls_the_api_with_its_csrf_token() -> None:
    make_user(username="ada", password=PASSWORD)
    client = Client(enforce_csrf_checks=True)
    login_page = client.get("/login/")
    client.post("/login/", {"username": "ada", "password": PASSWORD, "csrfmiddlewaretoken": str(login_page.context["csrf_token"])})

    me = client.get("/api/auth/me")
    token = str(client.get("/").context["csrf_token"])
    without_token = client.post("/api/conversations/", json.dumps({"title": "x"}), content_type="application/json")
    with_token = client.put(
        "/api/conversations/conv_missing", json.dumps({"title": "x"}), content_type="application/json", HTTP_X_CSRFTOKEN=token
    )

    assert me.status_code == 200
    assert me.json()["data"]["username"] == "ada"
    assert without_token.status_code == 403
    assert "CSRF" in without_token.json()["message"]
    assert with_token.status_code == 404


def test_the_chinese_browser_gets_chinese_pages() -> None:
    response = Client(headers={"accept-language": "zh-CN,zh;q=0.9"}).get("/login/")

    body = response.content.decode()
    assert '<html lang="zh-hans">' in body
    assert "欢迎回来" in body and "用户名或电子邮箱" in body
