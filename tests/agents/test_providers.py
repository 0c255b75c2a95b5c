"""/api/providers/: shapes, write-only keys, one default, shared providers, base URL rules."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from agents.models import Provider
from tests.support.factories import api_client_for, make_admin, make_user
from toolbox import netguard

pytestmark = pytest.mark.django_db

KEY = "sk-live-very-secret-key-987654321"


PUBLIC_HOSTS = {"api.deepseek.com": "93.184.216.34", "api.openai.com": "93.184.216.35"}


@pytest.fixture(autouse=True)
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The public internet's DNS (unreachable here) for the names these tests use."""
    real = netguard.resolve_host_sync

    def resolve(host: str, port: int) -> list[str]:
        return [PUBLIC_HOSTS[host]] if host in PUBLIC_HOSTS else real(host, port)

    monkeypatch.setattr(netguard, "resolve_host_sync", resolve)


@pytest.fixture
def user() -> Any:
    return make_user()


def create(client: Any, **body: Any) -> Any:
    payload = {
        "name": "DeepSeek",
        "provider_type": "openai",
        "base_url": "https://api.deepseek.com/v1",
        "api_key": KEY,
        "default_model": "deepseek-chat",
    }
    payload.update(body)
    return client.post("/api/providers/", payload, format="json")


def test_it_creates_a_provider_with_the_seed_shape_and_never_returns_the_key(user: Any) -> None:
    response = create(api_client_for(user), is_default=True)

    assert response.status_code == 201
    data = response.json()["data"]
    assert {
        k: data[k] for k in ("user_id", "name", "provider_type", "base_url", "default_model", "max_tokens", "is_default", "enabled")
    } == {
        "user_id": user.pk,
        "name": "DeepSeek",
        "provider_type": "openai",
        "base_url": "https://api.deepseek.com/v1",
        "default_model": "deepseek-chat",
        "max_tokens": 8192,
        "is_default": True,
        "enabled": True,
    }
    assert data["has_api_key"] is True
    assert "api_key" not in data
    assert KEY not in response.content.decode()
    stored = Provider.objects.get(pk=data["id"])
    assert stored.api_key_encrypted != KEY and KEY not in stored.api_key_encrypted
    assert stored.api_key == KEY


def test_the_key_never_appears_in_any_provider_endpoint(user: Any, fake_llm: Any) -> None:
    admin = make_admin()
    client = api_client_for(admin)
    created = create(client, base_url=fake_llm.base_url + "/v1")
    provider_id = created.json()["data"]["id"]

    bodies = [
        created.content,
        client.get("/api/providers/").content,
        client.get(f"/api/providers/{provider_id}").content,
        client.put(f"/api/providers/{provider_id}", {"name": "renamed"}, format="json").content,
        client.post(f"/api/providers/{provider_id}/test").content,
        client.put(f"/api/providers/{provider_id}", {"max_tokens": -1, "api_key": KEY}, format="json").content,
        create(client, provider_type="nope").content,
        client.delete(f"/api/providers/{provider_id}").content,
    ]

    assert all(KEY.encode() not in body for body in bodies)
    assert all(b"sk-live" not in body for body in bodies)


def test_exactly_one_default_per_user(user: Any) -> None:
    client = api_client_for(user)
    first = create(client, name="a").json()["data"]
    second = create(client, name="b").json()["data"]
    third = create(client, name="c", is_default=True).json()["data"]

    assert first["is_default"] is True
    assert second["is_default"] is False
    assert list(Provider.objects.filter(user=user, is_default=True).values_list("pk", flat=True)) == [third["id"]]

    client.put(f"/api/providers/{second['id']}", {"is_default": True}, format="json")
    assert list(Provider.objects.filter(user=user, is_default=True).values_list("pk", flat=True)) == [second["id"]]

    client.delete(f"/api/providers/{second['id']}")
    assert Provider.objects.filter(user=user, is_default=True).count() == 1


def test_update_is_partial_and_the_key_is_kept_or_cleared(user: Any) -> None:
    client = api_client_for(user)
    provider_id = create(client).json()["data"]["id"]

    renamed = client.put(f"/api/providers/{provider_id}", {"name": "新名称", "max_tokens": 16384}, format="json").json()["data"]
    assert (renamed["name"], renamed["max_tokens"], renamed["default_model"], renamed["has_api_key"]) == (
        "新名称",
        16384,
        "deepseek-chat",
        True,
    )
    assert Provider.objects.get(pk=provider_id).api_key == KEY

    cleared = client.put(f"/api/providers/{provider_id}", {"api_key": ""}, format="json").json()["data"]
    assert cleared["has_api_key"] is False


def test_shared_providers_are_visible_to_all_but_only_admins_change_them(user: Any) -> None:
    shared = Provider.objects.create(
        user=None, name="Shared", provider_type="openai", base_url="https://api.openai.com/v1", default_model="gpt-4o"
    )
    client = api_client_for(user)

    listing = client.get("/api/providers/").json()["data"]
    change = client.put(f"/api/providers/{shared.pk}", {"name": "mine now"}, format="json")
    delete = client.delete(f"/api/providers/{shared.pk}")
    admin_change = api_client_for(make_admin()).put(f"/api/providers/{shared.pk}", {"name": "Renamed"}, format="json")

    assert [(p["name"], p["is_shared"], p["user_id"]) for p in listing["providers"]] == [("Shared", True, None)]
    assert listing["total"] == 1
    assert (change.status_code, delete.status_code) == (403, 403)
    assert "administrators" in change.json()["message"]
    assert admin_change.status_code == 200
    assert Provider.objects.get(pk=shared.pk).name == "Renamed"


def test_another_users_provider_is_404_on_every_endpoint(user: Any) -> None:
    theirs = Provider.objects.create(user=make_user(), name="theirs", provider_type="openai", base_url="https://x.example/v1")
    client = api_client_for(user)

    statuses = [
        client.get(f"/api/providers/{theirs.pk}").status_code,
        client.put(f"/api/providers/{theirs.pk}", {"name": "x"}, format="json").status_code,
        client.delete(f"/api/providers/{theirs.pk}").status_code,
        client.post(f"/api/providers/{theirs.pk}/test").status_code,
    ]

    assert statuses == [404, 404, 404, 404]
    assert Provider.objects.get(pk=theirs.pk).name == "theirs"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider_type": "gemini"}, "provider_type"),
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": "100"}, "max_tokens"),
        ({"is_default": "true"}, "is_default"),
        ({"base_url": "ftp://files.example.com"}, "base_url"),
        ({"base_url": "https://user:pw@api.example.com/v1"}, "base_url"),
        ({"base_url": "not a url"}, "base_url"),
        ({"provider_type": "azure", "base_url": "https://x.openai.azure.com"}, "api_version"),
    ],
)
def test_it_rejects_bad_provider_input_naming_the_field(user: Any, body: dict, field: str) -> None:
    response = create(api_client_for(user), **body)

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Provider.objects.count() == 0


def test_malformed_json_is_a_400(user: Any) -> None:
    response = api_client_for(user).post("/api/providers/", data="{oops", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["success"] is False


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[aC6]/v1", "The host in [brackets] is not an IPv6 address."),
        ("https://a0:70191/v1", "The port must be at most 65535."),
    ],
)
def test_a_base_url_that_urlsplit_cannot_take_apart_is_a_400_naming_it(user: Any, url: str, message: str) -> None:
    response = create(api_client_for(user), base_url=url)

    assert response.status_code == 400
    assert response.json()["errors"] == {"base_url": [message]}
    assert not Provider.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:11434/v1",
        "http://localhost:8001/v1",
        "http://127.1:8001/v1",
        "http://2130706433:8001/v1",
        "http://0x7f000001:8001/v1",
        "http://[::1]:8001/v1",
        "http://10.0.0.5/v1",
        "http://192.168.1.10/v1",
        "http://169.254.169.254/v1",
        "http://[::ffff:127.0.0.1]/v1",
    ],
)
def test_private_base_urls_follow_the_policy(user: Any, url: str) -> None:
    admin = make_admin()

    refused = create(api_client_for(user), base_url=url)
    allowed_for_admin = create(api_client_for(admin), base_url=url)
    with override_settings(LUXX_PROVIDER_PRIVATE_URLS="all"):
        allowed_for_all = create(api_client_for(user), base_url=url, name="all")
    with override_settings(LUXX_PROVIDER_PRIVATE_URLS="none"):
        refused_for_admin = create(api_client_for(admin), base_url=url, name="none")

    assert refused.status_code == 400 and "base_url" in refused.json()["errors"]
    assert allowed_for_admin.status_code == 201
    assert allowed_for_all.status_code == 201
    assert refused_for_admin.status_code == 400 and "disabled" in refused_for_admin.json()["message"]


def test_a_public_base_url_is_fine_for_everyone(user: Any) -> None:
    assert create(api_client_for(user), base_url="https://93.184.216.34/v1").status_code == 201


def test_the_connection_test_reaches_the_provider(fake_llm: Any) -> None:
    admin = make_admin()
    client = api_client_for(admin)
    provider_id = create(client, base_url=fake_llm.base_url + "/v1", default_model="fake-model").json()["data"]["id"]

    response = client.post(f"/api/providers/{provider_id}/test")

    body = response.json()
    assert response.status_code == 200
    assert body["message"].startswith("HTTP 200: ")
    assert body["data"]["status_code"] == 200 and body["data"]["success"] is True
    assert "chat.completion" in body["data"]["response_body"]
    assert body["data"]["model"] == "fake-model"
    assert isinstance(body["data"]["latency_ms"], int) and body["data"]["latency_ms"] >= 0
    assert body["data"]["summary"] == f"Connected: fake-model replied in {body['data']['latency_ms']} ms"
    assert fake_llm.requests[-1].body["max_tokens"] == 1
    assert fake_llm.requests[-1].headers["Authorization"] == f"Bearer {KEY}"


def test_a_failing_provider_test_says_so_in_plain_words(fake_llm: Any) -> None:
    admin = make_admin()
    client = api_client_for(admin)
    anthropic_id = create(client, provider_type="anthropic", base_url=fake_llm.base_url, default_model="claude").json()["data"]["id"]
    closed_id = create(client, name="closed", base_url="http://127.0.0.1:9/v1").json()["data"]["id"]
    fake_llm.script(__import__("fakellm").Scenario(fault="500"))

    failed = client.post(f"/api/providers/{anthropic_id}/test").json()
    unreachable = client.post(f"/api/providers/{closed_id}/test").json()

    assert failed["data"]["status_code"] == 500 and failed["data"]["success"] is False
    assert failed["data"]["summary"] == "Failed: HTTP 500: the provider had an internal error (Scripted fault 500.)."
    unreachable["data"].pop("latency_ms")
    assert unreachable["data"] == {
        "status_code": 0,
        "success": False,
        "response_body": "Could not connect to the model provider, or the connection dropped.",
        "model": "deepseek-chat",
        "summary": "Failed: Could not connect to the model provider, or the connection dropped.",
    }
    assert unreachable["message"].startswith("No response: ")


def test_an_explicit_is_default_false_is_honoured_on_the_first_provider(user: Any) -> None:
    client = api_client_for(user)

    response = create(client, is_default=False)

    assert response.status_code == 201
    assert response.json()["data"]["is_default"] is False
    assert Provider.objects.get(user=user).is_default is False


def test_an_omitted_is_default_makes_only_the_first_provider_the_default(user: Any) -> None:
    client = api_client_for(user)

    first = create(client, name="a").json()["data"]
    second = create(client, name="b").json()["data"]

    assert (first["is_default"], second["is_default"]) == (True, False)


def test_the_provider_test_speaks_the_callers_language(fake_llm: Any) -> None:
    # Given a provider that answers and one that refuses with an error body
    admin = make_admin()
    client = api_client_for(admin)
    working = create(client, base_url=fake_llm.base_url + "/v1", default_model="fake-model").json()["data"]["id"]
    failing = create(client, name="failing", base_url=fake_llm.base_url + "/v1", default_model="fake-model").json()["data"]["id"]
    closed = create(client, name="closed", base_url="http://127.0.0.1:9/v1").json()["data"]["id"]
    zh = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}

    # When each is tested by a caller whose language is Chinese
    ok = client.post(f"/api/providers/{working}/test", **zh).json()["data"]
    fake_llm.script(__import__("fakellm").Scenario(fault="500"))
    failed = client.post(f"/api/providers/{failing}/test", **zh).json()["data"]
    unreachable = client.post(f"/api/providers/{closed}/test", **zh).json()["data"]

    # Then every outcome is in Chinese
    assert ok["summary"] == f"已连接：fake-model 在 {ok['latency_ms']} 毫秒内回复"
    assert failed["summary"] == "失败：HTTP 500：提供方内部出错（Scripted fault 500.）。"
    assert unreachable["summary"] == "失败：无法连接模型提供方，或连接已断开。"
