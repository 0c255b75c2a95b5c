"""Sign-in limits that hold: per socket address (a forged X-Forwarded-For changes
nothing), per account whatever the address, and on the browser forms as on the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuthCounter, User
from accounts.throttling import AuthRateThrottle
from tests.support.factories import DEFAULT_PASSWORD, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_per_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AuthRateThrottle, "THROTTLE_RATES", {"auth": "3/min"})


def api_login(identifier: str, password: str, *, address: str = "203.0.113.7", forwarded: str | None = None) -> Any:
    extra = {"REMOTE_ADDR": address}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return APIClient().post("/api/auth/login", {"username": identifier, "password": password}, format="json", **extra)


def form_post(path: str, data: dict[str, str], *, address: str = "203.0.113.7", forwarded: str | None = None) -> Any:
    extra = {"REMOTE_ADDR": address}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return Client().post(path, data, **extra)


# --- per address ----------------------------------------------------------------------


def test_a_new_x_forwarded_for_per_request_does_not_escape_the_address_limit(three_per_minute: None) -> None:
    make_user(username="alice")

    statuses = [api_login("alice", "wrong-1234", forwarded=f"198.51.100.{n}").status_code for n in range(3)]
    fourth = api_login("alice", DEFAULT_PASSWORD, forwarded="198.51.100.99")

    assert statuses == [401, 401, 401]
    assert fourth.status_code == 429
    assert list(AuthCounter.objects.filter(key__startswith="addr:").values_list("key", "count")) == [("addr:203.0.113.7", 4)]


def test_another_socket_address_has_its_own_limit(three_per_minute: None) -> None:
    make_user(username="alice")
    for _ in range(3):
        api_login("alice", "wrong-1234", address="203.0.113.7")

    response = api_login("alice", DEFAULT_PASSWORD, address="203.0.113.8")

    assert response.status_code == 200


def test_behind_a_trusted_proxy_the_address_it_forwards_is_limited(three_per_minute: None) -> None:
    make_user(username="alice")
    rest_framework = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    with override_settings(REST_FRAMEWORK=rest_framework):
        # Our proxy (the socket address) appends the client it saw to whatever the client sent.
        limited = [api_login("alice", "wrong-1234", address="10.0.0.2", forwarded=f"1.2.3.{n}, 198.51.100.5").status_code for n in range(4)]
        other_client = api_login("alice", DEFAULT_PASSWORD, address="10.0.0.2", forwarded="198.51.100.6")

    assert limited == [401, 401, 401, 429]
    assert other_client.status_code == 200


# --- per account ----------------------------------------------------------------------


@override_settings(LUXX_LOGIN_FAILURE_LIMIT=3)
def test_failed_logins_lock_the_account_whatever_the_address() -> None:
    make_user(username="alice", email="alice@example.com")
    make_user(username="bob")

    failures = [
        api_login("alice", "wrong-1234", address="203.0.113.1").status_code,
        api_login("ALICE", "wrong-1234", address="203.0.113.2").status_code,
        api_login("alice@example.com", "wrong-1234", address="203.0.113.3").status_code,
    ]
    locked = api_login("alice", DEFAULT_PASSWORD, address="203.0.113.4")
    other_account = api_login("bob", DEFAULT_PASSWORD, address="203.0.113.4")

    assert failures == [401, 401, 401]
    assert locked.status_code == 429
    assert locked.json()["message"].startswith("Too many failed sign-ins for this account. Try again in ")
    assert 895 <= int(locked["Retry-After"]) <= 15 * 60 + 1
    assert other_account.status_code == 200


@override_settings(LUXX_LOGIN_FAILURE_LIMIT=3)
def test_a_locked_account_opens_again_when_its_window_ends() -> None:
    user = make_user(username="alice")
    for _ in range(3):
        api_login("alice", "wrong-1234")
    assert api_login("alice", DEFAULT_PASSWORD).status_code == 429

    AuthCounter.objects.filter(key=f"account:{user.pk}").update(window_ends_at=timezone.now())

    assert api_login("alice", DEFAULT_PASSWORD).status_code == 200


@override_settings(LUXX_LOGIN_FAILURE_LIMIT=3)
def test_successful_logins_do_not_count_against_the_account() -> None:
    make_user(username="alice")

    statuses = [api_login("alice", DEFAULT_PASSWORD).status_code for _ in range(5)]
    statuses += [api_login("alice", "wrong-1234").status_code for _ in range(3)]

    assert statuses == [200] * 5 + [401] * 3


@override_settings(LUXX_LOGIN_FAILURE_LIMIT=3)
def test_unknown_names_are_limited_like_accounts() -> None:
    statuses = [api_login("nobody", "wrong-1234", address=f"203.0.113.{n}").status_code for n in range(4)]

    assert statuses == [401, 401, 401, 429]


@override_settings(LUXX_LOGIN_FAILURE_LIMIT=2)
def test_the_v1_login_shares_the_account_limit() -> None:
    make_user(username="zhang", email="zhang@example.com")
    client = APIClient()

    api_login("zhang", "wrong-1234")
    wrong = client.post("/api/v1/users/login", {"email": "zhang@example.com", "password": "wrong-1234"}, format="json")
    locked = client.post("/api/v1/users/login", {"email": "zhang@example.com", "password": DEFAULT_PASSWORD}, format="json")

    assert wrong.status_code == 401
    assert locked.status_code == 429
    assert locked.json()["code"] == 42900


# --- browser forms --------------------------------------------------------------------


def test_the_login_form_is_limited_per_address(three_per_minute: None) -> None:
    make_user(username="alice")

    statuses = [
        form_post("/login/", {"username": "alice", "password": "wrong-1234"}, forwarded=f"198.51.100.{n}").status_code for n in range(3)
    ]
    refused = form_post("/login/", {"username": "alice", "password": DEFAULT_PASSWORD}, forwarded="198.51.100.9")

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert "Too many attempts from your address. Try again in " in refused.content.decode()
    assert "_auth_user_id" not in refused.client.session


def test_the_register_form_is_limited_per_address(three_per_minute: None) -> None:
    def register(n: int) -> Any:
        data = {"username": f"user{n}", "email": f"user{n}@example.com", "password": "Passw0rd2024", "password_confirm": "Passw0rd2024"}
        return form_post("/register/", data, forwarded=f"198.51.100.{n}")

    statuses = [register(n).status_code for n in range(4)]

    assert statuses == [302, 302, 302, 429]
    assert not User.objects.filter(username="user3").exists()


@override_settings(LUXX_LOGIN_FAILURE_LIMIT=3)
def test_the_login_form_shares_the_account_limit() -> None:
    make_user(username="alice")
    for n in range(3):
        form_post("/login/", {"username": "alice", "password": "wrong-1234"}, address=f"203.0.113.{n}")

    locked = form_post("/login/", {"username": "alice", "password": DEFAULT_PASSWORD}, address="203.0.113.50")

    assert locked.status_code == 429
    assert "Too many failed sign-ins for this account." in locked.content.decode()
    assert "_auth_user_id" not in locked.client.session


@override_settings(LUXX_LOGIN_FAILURE_LIMIT=3)
def test_the_admin_login_shares_the_account_limit() -> None:
    make_user(username="root", level=4)
    for n in range(3):
        form_post("/admin/login/", {"username": "root", "password": "wrong-1234"}, address=f"203.0.113.{n}")

    locked = form_post("/admin/login/", {"username": "root", "password": DEFAULT_PASSWORD}, address="203.0.113.50")

    assert locked.status_code == 200  # the admin's own form, with its error
    assert "_auth_user_id" not in locked.client.session


def test_the_admin_login_is_limited_per_address(three_per_minute: None) -> None:
    make_user(username="root", level=4)
    for n in range(3):
        form_post("/admin/login/", {"username": "root", "password": "wrong-1234"}, forwarded=f"198.51.100.{n}")

    refused = form_post("/admin/login/", {"username": "root", "password": DEFAULT_PASSWORD})

    assert refused.status_code == 429
    assert refused["Retry-After"].isdigit()
