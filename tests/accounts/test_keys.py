"""The keys that sign tokens and encrypt provider API keys: never derivable, rotatable."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import timedelta

import jwt
import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from accounts.checks import signing_key_check
from agents.models import Provider
from luxx.bootstrap import legacy_secret_key
from tests.support.factories import api_client_for, make_admin, make_user

pytestmark = pytest.mark.django_db


def _fernet_key(secret: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(("luxx-fernet:" + secret).encode()).digest()).decode()


def test_a_token_signed_with_the_key_derived_from_the_install_path_is_refused() -> None:
    admin = make_admin(username="root")
    now = timezone.now()
    forged = jwt.encode(
        {
            "token_type": "access",
            "user_id": str(admin.pk),
            "jti": "forged",
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(minutes=5)).timestamp()),
        },
        legacy_secret_key(),
        algorithm="HS256",
    )
    client = api_client_for()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")

    response = client.get("/api/auth/users")

    assert response.status_code == 401


@pytest.mark.parametrize("key", [legacy_secret_key(), "luxx-insecure-abc", "django-insecure-xyz"])
def test_the_deploy_check_errors_on_a_key_derived_from_a_constant(key: str) -> None:
    with override_settings(SECRET_KEY=key):
        messages = signing_key_check()

    assert [m.id for m in messages] == ["luxx.E001"]


def test_the_deploy_check_accepts_a_random_key() -> None:
    assert signing_key_check() == []


def _provider_with_raw_token(token: str) -> Provider:
    user = make_user()
    provider = Provider.objects.create(user=user, name="p", provider_type="openai", base_url="https://api.example.com/v1")
    Provider.objects.filter(pk=provider.pk).update(api_key_encrypted=token)
    provider.refresh_from_db()
    return provider


def test_keys_stored_by_an_install_from_before_generated_keys_still_decrypt_and_move_to_the_new_key() -> None:
    legacy = Fernet(_fernet_key(legacy_secret_key()).encode())
    provider = _provider_with_raw_token(legacy.encrypt(b"sk-old").decode())
    assert provider.api_key == "sk-old"

    out = io.StringIO()
    call_command("reencrypt_secrets", stdout=out)

    provider.refresh_from_db()
    from django.conf import settings

    current = Fernet(settings.LUXX_ENCRYPTION_KEYS[0].encode())
    assert current.decrypt(provider.api_key_encrypted.encode()) == b"sk-old"
    assert "Re-encrypted 1 provider API key(s)" in out.getvalue()


def test_rotation_puts_a_new_key_first_and_reencrypts_every_secret() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(LUXX_ENCRYPTION_KEYS=[old]):
        provider = Provider(user=make_user(), name="p", provider_type="openai", base_url="https://api.example.com/v1")
        provider.api_key = "sk-rotate"
        provider.save()

    with override_settings(LUXX_ENCRYPTION_KEYS=[new, old]):
        assert Provider.objects.get(pk=provider.pk).api_key == "sk-rotate"
        call_command("reencrypt_secrets", stdout=io.StringIO())

    with override_settings(LUXX_ENCRYPTION_KEYS=[new]):
        assert Provider.objects.get(pk=provider.pk).api_key == "sk-rotate"


def test_a_secret_no_key_opens_is_reported_and_the_command_fails() -> None:
    stranger = Fernet(Fernet.generate_key())
    provider = _provider_with_raw_token(stranger.encrypt(b"sk-lost").decode())
    err = io.StringIO()

    with pytest.raises(SystemExit):
        call_command("reencrypt_secrets", stdout=io.StringIO(), stderr=err)

    assert f"Provider {provider.pk} (p): no configured key opens its API key" in err.getvalue()
    assert Provider.objects.get(pk=provider.pk).api_key == ""
