"""What a provider API key may contain: what an HTTP header can carry.

Keys travel in a header (``Authorization: Bearer …``, ``x-api-key``, ``api-key``), so
they are printable ASCII without spaces. A key outside that is refused when it is saved,
and one stored before that check fails a model call with :data:`UNSENDABLE_KEY` instead
of an encoding error deep in the HTTP client."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

INVALID_KEY = gettext_lazy("The API key may only contain printable ASCII characters (letters, digits, punctuation), without spaces.")
UNSENDABLE_KEY = gettext_lazy(
    "The provider's API key contains characters that cannot be sent in an HTTP header (only printable ASCII can): "
    "edit the provider and enter the key again."
)


def is_sendable_api_key(key: str) -> bool:
    """Printable ASCII, no spaces (``!`` to ``~``); the empty key (none) is fine too."""
    return all("!" <= char <= "~" for char in key)
