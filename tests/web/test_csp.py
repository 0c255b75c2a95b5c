"""Every HTML page sends a Content-Security-Policy allowing only this origin's scripts
and styles, and no page needs more: no inline script (JSON data blocks aside), no inline
style, no handler attribute."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from luxx.csp import POLICY
from tests.support.factories import make_admin, make_user

pytestmark = pytest.mark.django_db

SIGNED_IN_PAGES = ["/", "/agents/", "/rooms/", "/knowledge/", "/settings/", "/c/conv_missing", "/nowhere/"]
PUBLIC_PAGES = ["/login/", "/register/", "/api/docs/"]
ADMIN_PAGES = ["/admin/", "/admin/agents/provider/add/", "/admin/accounts/user/"]


def assert_no_inline_code(html: str) -> None:
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"<style\b", html)
    assert not re.search(r"\sstyle=\"", html)
    assert not re.search(r"\son[a-z]+=\"", html)


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages_send_the_policy_and_need_nothing_inline(path: str) -> None:
    response = Client().get(path)

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == POLICY
    assert_no_inline_code(response.content.decode())


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_signed_in_pages_send_the_policy_and_need_nothing_inline(path: str) -> None:
    client = Client()
    client.force_login(make_user())

    response = client.get(path)

    assert response.status_code in {200, 404}
    assert response["Content-Security-Policy"] == POLICY
    assert_no_inline_code(response.content.decode())


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_django_admin_pages_send_the_policy(path: str) -> None:
    client = Client()
    client.force_login(make_admin())

    response = client.get(path)

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == POLICY


def test_the_policy_allows_only_this_origin() -> None:
    directives = dict(part.split(" ", 1) for part in POLICY.split("; "))

    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"


def test_json_api_answers_carry_no_policy(client: Any) -> None:
    response = client.get("/api/health")

    assert "Content-Security-Policy" not in response
