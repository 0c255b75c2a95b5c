"""Provider API keys an HTTP header cannot carry: refused when saved (400 naming
api_key), and a clear failure, never a 500, for a key stored before that check."""

from __future__ import annotations

from typing import Any

import pytest

from agents.admin import ProviderAdminForm
from agents.models import Provider
from chat.models import Message, MessageStatus
from tests.chat.conftest import make_provider
from tests.chat.test_stream import create_conversation, send
from tests.support.factories import access_token_for, api_client_for, make_admin, make_user

KEY_MESSAGE = "The API key may only contain printable ASCII characters (letters, digits, punctuation), without spaces."
STORED_KEY_ERROR = (
    "The provider's API key contains characters that cannot be sent in an HTTP header (only printable ASCII can): "
    "edit the provider and enter the key again."
)


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["sk-é§", "sk-密钥", "sk-abc def", "sk-tab\there", "sk-\x7fdel", "sk-zero\u200bwidth"])
def test_a_key_that_is_not_printable_ascii_is_refused_naming_api_key(key: str) -> None:
    client = api_client_for(make_user())
    body = {"provider_type": "openai", "base_url": "https://93.184.216.34/v1"}
    created = client.post("/api/providers/", {**body, "name": "p", "api_key": key}, format="json")
    good = client.post("/api/providers/", {**body, "name": "q", "api_key": "sk-ok"}, format="json")
    updated = client.put(f"/api/providers/{good.json()['data']['id']}", {"api_key": key}, format="json")

    for response in (created, updated):
        assert response.status_code == 400
        assert response.json()["errors"] == {"api_key": [KEY_MESSAGE]}
    assert list(Provider.objects.values_list("name", flat=True)) == ["q"]
    assert Provider.objects.get(name="q").api_key == "sk-ok"


@pytest.mark.django_db
def test_surrounding_whitespace_is_trimmed_not_refused() -> None:
    client = api_client_for(make_user())

    response = client.post(
        "/api/providers/", {"name": "p", "base_url": "https://93.184.216.34/v1", "api_key": "  sk-padded-key \n"}, format="json"
    )

    assert response.status_code == 201
    assert Provider.objects.get().api_key == "sk-padded-key"


@pytest.mark.django_db
def test_django_admin_refuses_the_same_keys() -> None:
    form = ProviderAdminForm(
        data={"name": "p", "provider_type": "openai", "base_url": "https://93.184.216.34/v1", "api_key": "sk-é§", "context_window": 8192}
    )

    assert form.is_valid() is False
    assert form.errors["api_key"] == [KEY_MESSAGE]


@pytest.mark.django_db
@pytest.mark.parametrize("provider_type", ["openai", "anthropic"])
def test_the_connection_test_of_a_stored_non_ascii_key_fails_in_plain_words(provider_type: str, fake_llm: Any) -> None:
    admin = make_admin()
    provider = make_provider(admin, fake_llm, provider_type)
    Provider.objects.filter(pk=provider.pk).update(api_key_encrypted=_encrypted("sk-é§"))  # saved before keys were checked

    response = api_client_for(admin).post(f"/api/providers/{provider.pk}/test")

    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["status_code"], data["success"], data["response_body"]) == (0, False, STORED_KEY_ERROR)
    assert data["summary"] == f"Failed: {STORED_KEY_ERROR}"
    assert fake_llm.requests == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("provider_type", ["openai", "anthropic"])
def test_a_chat_turn_with_a_stored_non_ascii_key_ends_with_a_clear_error(live_url: str, fake_llm: Any, provider_type: str) -> None:
    user = make_user(level=3)
    provider = make_provider(user, fake_llm, provider_type)
    Provider.objects.filter(pk=provider.pk).update(api_key_encrypted=_encrypted("sk-é§"))
    token = access_token_for(user)
    conversation_id = create_conversation(live_url, token)

    response, events = send(live_url, token, conversation_id, "hello")

    assert response.status_code == 200
    assert [e.event for e in events] == ["error"]
    assert events[0].data["content"] == STORED_KEY_ERROR
    assert Message.objects.get(pk=events[0].data["message_id"]).status == MessageStatus.ERROR
    assert fake_llm.requests == []


def _encrypted(key: str) -> str:
    from agents.crypto import encrypt_secret

    return encrypt_secret(key)
