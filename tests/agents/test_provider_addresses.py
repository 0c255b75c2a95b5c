"""A provider's address is checked at every connection, not only when it is saved: a name
that later resolves to the server's own network, a redirect into it, or a policy that
changed since the provider was saved cannot make the server call its own network."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from agents.models import Provider
from tests.chat.test_stream import create_conversation, send
from tests.support.factories import access_token_for, api_client_for, make_admin, make_user
from toolbox import netguard

pytestmark = pytest.mark.django_db(transaction=True)

PUBLIC_ADDRESS = "93.184.216.34"


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The answers of the public internet's DNS (unreachable here), changeable by a test."""
    answers: dict[str, str] = {}

    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise netguard.ResolutionError(f"Could not resolve {host}.")
        return [answers[host]]

    def resolve_sync(host: str, port: int) -> list[str]:
        if host not in answers:
            raise netguard.ResolutionError(f"Could not resolve {host}.")
        return [answers[host]]

    monkeypatch.setattr(netguard, "resolve_host", resolve)
    monkeypatch.setattr(netguard, "resolve_host_sync", resolve_sync)
    return answers


@pytest.fixture
def no_allowed_addresses(fake_llm: Any, settings: Any) -> None:
    """The fake LLM is on loopback; here no administrator vouches for it."""
    settings.LUXX_PROVIDER_ALLOWED_ADDRESSES = []


def _create(client: Any, base_url: str, **extra: Any) -> Any:
    body = {"name": "p", "provider_type": "openai", "base_url": base_url, "api_key": "sk-x", "default_model": "fake-model", **extra}
    return client.post("/api/providers/", body, format="json")


def test_a_name_that_later_resolves_to_loopback_is_refused_at_connection(
    dns: dict[str, str], fake_llm: Any, no_allowed_addresses: None
) -> None:
    user = make_user(level=3)
    client = api_client_for(user)
    dns["rebind.example"] = PUBLIC_ADDRESS
    created = _create(client, f"http://rebind.example:{fake_llm.port}/v1")
    assert created.status_code == 201, created.content

    dns["rebind.example"] = "127.0.0.1"
    tested = client.post(f"/api/providers/{created.json()['data']['id']}/test").json()

    assert tested["data"]["success"] is False
    assert tested["data"]["status_code"] == 0
    assert "127.0.0.1 is on a loopback or private network" in tested["data"]["response_body"]
    assert fake_llm.requests == []


def test_a_chat_through_a_rebound_name_ends_with_an_error_and_never_connects(
    live_url: str, dns: dict[str, str], fake_llm: Any, no_allowed_addresses: None
) -> None:
    user = make_user(level=3)
    token = access_token_for(user)
    dns["rebind.example"] = PUBLIC_ADDRESS
    created = _create(api_client_for(user), f"http://rebind.example:{fake_llm.port}/v1", is_default=True)
    assert created.status_code == 201
    dns["rebind.example"] = "127.0.0.1"
    conversation_id = create_conversation(live_url, token)

    _, events = send(live_url, token, conversation_id, "hello")

    assert [e.event for e in events] == ["error"]
    assert "refused" in events[0].data["content"]
    assert fake_llm.requests == []


def test_an_administrators_provider_may_reach_the_servers_network(dns: dict[str, str], fake_llm: Any, no_allowed_addresses: None) -> None:
    client = api_client_for(make_admin())
    dns["rebind.example"] = PUBLIC_ADDRESS
    created = _create(client, f"http://rebind.example:{fake_llm.port}/v1")
    dns["rebind.example"] = "127.0.0.1"

    tested = client.post(f"/api/providers/{created.json()['data']['id']}/test").json()

    assert tested["data"]["success"] is True
    assert len(fake_llm.requests) == 1


class _Redirect(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_POST(self) -> None:
        self.send_response(307)
        self.send_header("Location", self.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def redirector(fake_llm: Any) -> Iterator[int]:
    """A server on loopback that redirects every request to the fake LLM."""
    handler = type("Handler", (_Redirect,), {"target": f"http://127.0.0.1:{fake_llm.port}"})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_a_redirect_into_the_servers_network_is_refused_at_the_hop(fake_llm: Any, redirector: int, settings: Any) -> None:
    # An administrator vouches for the redirecting service, not for where it redirects.
    settings.LUXX_PROVIDER_ALLOWED_ADDRESSES = [f"127.0.0.1:{redirector}"]
    client = api_client_for(make_user(level=3))
    created = _create(client, f"http://127.0.0.1:{redirector}/v1")
    assert created.status_code == 201, created.content

    tested = client.post(f"/api/providers/{created.json()['data']['id']}/test").json()

    assert tested["data"]["success"] is False
    assert "127.0.0.1 is on a loopback or private network" in tested["data"]["response_body"]
    assert fake_llm.requests == []


def test_a_provider_saved_under_a_looser_policy_is_held_to_the_current_one(fake_llm: Any, no_allowed_addresses: None) -> None:
    user = make_user(level=3)
    client = api_client_for(user)
    with override_settings(LUXX_PROVIDER_PRIVATE_URLS="all"):
        created = _create(client, f"{fake_llm.base_url}/v1")
        assert created.status_code == 201

    tested = client.post(f"/api/providers/{created.json()['data']['id']}/test").json()

    assert tested["data"]["success"] is False
    assert fake_llm.requests == []


def test_a_name_that_does_not_resolve_is_not_saved(dns: dict[str, str]) -> None:
    response = _create(api_client_for(make_user(level=3)), "https://nowhere.invalid/v1")

    assert response.status_code == 400
    assert response.json()["errors"]["base_url"] == ["The host nowhere.invalid does not resolve: check the URL."]
    assert not Provider.objects.exists()


def test_an_address_an_administrator_allows_is_reachable_by_everyone(fake_llm: Any, settings: Any) -> None:
    settings.LUXX_PROVIDER_ALLOWED_ADDRESSES = [f"127.0.0.1:{fake_llm.port}"]
    client = api_client_for(make_user(level=3))
    created = _create(client, f"{fake_llm.base_url}/v1")

    tested = client.post(f"/api/providers/{created.json()['data']['id']}/test").json()

    assert created.status_code == 201
    assert tested["data"]["success"] is True
    assert len(fake_llm.requests) == 1
