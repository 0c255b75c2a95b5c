"""Re-encrypt every stored secret under the first key of LUXX_ENCRYPTION_KEY.

Rotation: put a new key first in LUXX_ENCRYPTION_KEY (keeping the old one after it), run
this command, then drop the old key. Installs from before secret keys were generated run
it once after upgrading, to move their provider keys off the key derived from the install
path.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from agents.crypto import reencrypt_secret
from agents.models import Provider


class Command(BaseCommand):
    help = "Re-encrypt stored provider API keys under the first key of LUXX_ENCRYPTION_KEY."

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
        if unreadable:
            raise SystemExit(1)
