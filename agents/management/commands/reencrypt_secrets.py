"""Re-encrypt every stored secret under the first key of LUXX_ENCRYPTION_KEY.

Rotation: put a new key first in LUXX_ENCRYPTION_KEY (keeping the old one after it), run
this command, then drop the old key. Installs from before secret keys were generated run
it once after upgrading, to move their provider keys off the key derived from the install
path. MCP servers' headers and environment variables are moved as well.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from agents.crypto import reencrypt_secret
from agents.models import Provider


class Command(BaseCommand):
    help = "Re-encrypt stored provider API keys and MCP server secrets under the first key of LUXX_ENCRYPTION_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        moved, unreadable = 0, []
        with transaction.atomic():
            for provider in Provider.objects.select_for_update().exclude(api_key_encrypted="").order_by("pk"):
                token = reencrypt_secret(provider.api_key_encrypted)
                if token is None:
                    unreadable.append(provider)
                    continue
                Provider.objects.filter(pk=provider.pk).update(api_key_encrypted=token)
                moved += 1
        self.stdout.write(f"Re-encrypted {moved} provider API key(s) under the current key.")
        for provider in unreadable:
            self.stderr.write(
                f"Provider {provider.pk} ({provider.name}): no configured key opens its API key; "
                "add the key it was encrypted with to LUXX_ENCRYPTION_KEY, or enter the API key again."
            )
        lost = self._mcp_servers()
        if unreadable or lost:
            raise SystemExit(1)

    def _mcp_servers(self) -> int:
        """Headers and environment variables of MCP servers; the number no key opens."""
        from mcplink.models import McpServer

        moved, lost = 0, 0
        with transaction.atomic():
            for server in McpServer.objects.select_for_update().order_by("pk"):
                changes: dict[str, str] = {}
                for field, label in (("headers_encrypted", "headers"), ("env_encrypted", "environment")):
                    token = getattr(server, field)
                    if not token:
                        continue
                    moved_token = reencrypt_secret(token)
                    if moved_token is None:
                        lost += 1
                        self.stderr.write(
                            f"MCP server {server.pk} ({server.name}): no configured key opens its {label}; "
                            "add the key it was encrypted with to LUXX_ENCRYPTION_KEY, or enter them again."
                        )
                        continue
                    changes[field] = moved_token
                    moved += 1
                if changes:
                    McpServer.objects.filter(pk=server.pk).update(**changes)
        self.stdout.write(f"Re-encrypted {moved} MCP server secret(s) under the current key.")
        return lost
