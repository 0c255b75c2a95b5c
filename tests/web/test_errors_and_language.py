"""Error pages in the app's look, the CSRF failure page, and the UI language reaching the
JSON API the pages call (the language switch's cookie, or the browser's language)."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.utils import translation

from luxx import views
from tests.support.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-42"
ZH = {"accept-language": "zh-CN,zh;q=0.9"}


def test_an_unknown_page_gets_the_apps_404_page_and_an_unknown_api_path_its_envelope() -> None:
    page = Client().get("/no/such/page/")
    api = Client().get("/api/no/such/endpoint")

    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")
    body = page.content.decode()
    assert "<title>Page not found · Luxx</title>" in body
    assert 'class="auth-card error-page"' in body
    assert '<a class="btn btn-primary" href="/">Back to Luxx</a>' in body
    assert api.status_code == 404
    assert api.json() == {"success": False, "message": "No API endpoint at /api/no/such/endpoint."}


def test_the_404_page_is_translated() -> None:
    body = Client(headers=ZH).get("/no/such/page/").content.decode()

    assert '<html lang="zh-hans">' in body
    assert "页面不存在" in body and "返回 Luxx" in body


def test_a_server_error_on_a_page_renders_the_500_page_and_on_the_api_its_envelope() -> None:
    with translation.override("en"):  # no middleware runs here to pick the language
        page = views.handler500(RequestFactory().get("/settings/"))
        api = views.handler500(RequestFactory().get("/api/conversations/"))

    assert page.status_code == 500
    assert "Something went wrong on our side" in page.content.decode()
    assert api.status_code == 500
    assert json.loads(api.content) == {"success": False, "message": "An unexpected error occurred on the server."}


def test_a_form_posted_without_its_csrf_token_gets_a_page_that_says_to_reload() -> None:
    # Given the csrf failure view is the project's
    assert settings.CSRF_FAILURE_VIEW == "luxx.views.csrf_failure"

    # When the sign-in form is posted without its token
    response = Client(enforce_csrf_checks=True).post(
        "/login/", {"username": "ada", "password": PASSWORD}, HTTP_REFERER="http://testserver/login/"
    )

    # Then a page in the app's look says what to do, and leaves the reason out
    assert response.status_code == 403
    body = response.content.decode()
    assert "The form could not be sent" in body
    assert '<a class="btn btn-primary" href="http://testserver/login/">Reload the page</a>' in body
    assert "CSRF cookie not set" not in body


def test_the_csrf_failure_of_an_api_path_answers_in_the_envelope_and_a_foreign_referer_is_not_linked() -> None:
    with translation.override("en"):
        api = views.csrf_failure(RequestFactory().post("/api/tools/x"), reason="CSRF token missing.")
        page = views.csrf_failure(RequestFactory().post("/logout/", HTTP_REFERER="https://evil.example/"), reason="x")

    assert api.status_code == 403
    assert json.loads(api.content) == {"success": False, "message": "CSRF verification failed: reload the page and try again."}
    assert 'href="/"' in page.content.decode()
    assert "evil.example" not in page.content.decode()


def test_registration_errors_come_in_the_pages_language() -> None:
    make_user(username="taken", password=PASSWORD)

    response = Client(headers=ZH).post(
        "/register/", {"username": "taken", "email": "new@example.com", "password": "abc", "password_confirm": "abc"}
    )
    weak = Client(headers=ZH).post(
        "/register/", {"username": "fresh", "email": "fresh@example.com", "password": "abcdefghij", "password_confirm": "abcdefghij"}
    )

    assert "该用户名已被使用。" in response.content.decode()
    assert "密码必须同时包含字母和数字。" in weak.content.decode()


def test_the_language_switch_cookie_sets_the_language_of_the_api_calls() -> None:
    # Given a browser in English whose user picked Chinese with the switch
    make_user(username="ada", password=PASSWORD)
    client = Client(headers={"accept-language": "en"})
    switched = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert switched.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"

    # When the pages call the API
    wrong = client.post("/api/auth/login", json.dumps({"username": "ada", "password": "nope-123"}), content_type="application/json")
    missing = client.post("/api/auth/login", json.dumps({}), content_type="application/json")

    # Then Luxx's own messages and Django REST framework's are in Chinese
    assert wrong.status_code == 401
    assert wrong.json()["message"] == "用户名或密码错误。"
    assert missing.status_code == 400
    assert missing.json()["errors"]["username"] == ["该字段是必填项。"]


def test_without_a_cookie_the_api_follows_the_browsers_language() -> None:
    response = Client(headers=ZH).post("/api/auth/register", json.dumps({}), content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"]["username"] == ["该字段是必填项。"]
