"""MCP servers' headers and environment are encrypted like provider keys, and move with a
key rotation."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import override_settings

from mcplink.models import McpServer
from tests.support.factories import make_admin

pytestmark = pytest.mark.django_db


def test_a_key_rotation_moves_headers_and_environment_to_the_new_key() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(LUXX_ENCRYPTION_KEYS=[old]):
        server = McpServer(user=make_admin(), name="s", transport="stdio", command="x")
        server.headers = {"Authorization": "Bearer rotate-me"}
        server.env = {"TOKEN": "env-rotate-me"}
        server.save()
    out = io.StringIO()

    with override_settings(LUXX_ENCRYPTION_KEYS=[new, old]):
        call_command("reencrypt_secrets", stdout=out)

    with override_settings(LUXX_ENCRYPTION_KEYS=[new]):
        stored = McpServer.objects.get(pk=server.pk)
        assert (stored.headers, stored.env) == ({"Authorization": "Bearer rotate-me"}, {"TOKEN": "env-rotate-me"})
    assert "Re-encrypted 2 MCP server secret(s)" in out.getvalue()


def test_secrets_no_key_opens_are_reported_and_the_command_fails() -> None:
    stranger = Fernet(Fernet.generate_key())
    server = McpServer.objects.create(user=make_admin(), name="lost", url="https://mcp.example.com/mcp")
    McpServer.objects.filter(pk=server.pk).update(headers_encrypted=stranger.encrypt(b'{"A": "b"}').decode())
    err = io.StringIO()

    with pytest.raises(SystemExit):
        call_command("reencrypt_secrets", stdout=io.StringIO(), stderr=err)

    assert f"MCP server {server.pk} (lost): no configured key opens its headers" in err.getvalue()
    assert McpServer.objects.get(pk=server.pk).headers == {}
