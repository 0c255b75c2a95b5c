from __future__ import annotations

from rest_framework.throttling import AnonRateThrottle


class AuthRateThrottle(AnonRateThrottle):
    """Per-client-address limit on login, register and refresh, to slow password guessing."""

    scope = "auth"
