"""Where a provider's base URL points: the server's own network, or the outside world.

A provider on a loopback or private address (a local Ollama, vLLM, the fake LLM) would
let its owner make the server probe its own network, so only admins and shared providers
may use one unless LUXX_PROVIDER_PRIVATE_URLS says otherwise. The rule is checked twice:
here when the provider is saved (by the addresses its host resolves to now), and at every
connection by the SDKs' transport (agents/llm/transport.py), because a name can resolve
elsewhere later.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from toolbox import netguard
from toolbox.netguard import IPAddress, is_public_address, parse_ip_literal

# What a provider's base URL may be (provider_check_base_url() and the OpenAPI schema):
# http(s), a host name of letters, digits, dots and hyphens or a bracketed IPv6 address, a
# port (at most 65535), then a path and query without spaces, control characters or a
# #fragment. The LLM SDKs' URL parser refuses more than urlsplit() does, so this is
# checked up front.
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
BASE_URL_PATTERN = rf"^https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::{_PORT})?(?:[/?][^\s#\x00-\x1f\x7f]*)?$"

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class UnresolvableHost(Exception):
    """The base URL's host name does not resolve."""


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").strip().lower().rstrip(".")


def looks_local(url: str) -> bool:
    """Without resolving: a local name or a non-public address literal (any spelling)."""
    host = host_of(url)
    if not host:
        return False
    if host in _LOCAL_NAMES or host.endswith(".localhost") or host.endswith(".local") or "." not in host:
        return True
    address = parse_ip_literal(host)
    return address is not None and not is_public_address(address)


def _port_of(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _addresses(url: str) -> list[IPAddress]:
    """The addresses the URL's host is now, or resolves to now."""
    host = host_of(url)
    literal = parse_ip_literal(host)
    if literal is not None:
        return [literal]
    try:
        resolved = netguard.resolve_host_sync(host, _port_of(url))
    except Exception:
        raise UnresolvableHost(host) from None
    addresses = [a for a in (parse_ip_literal(r.split("%", 1)[0]) for r in resolved) if a is not None]
    if not addresses:
        raise UnresolvableHost(host)
    return addresses


def points_to_private_network(url: str) -> bool:
    """True when the host is local, or any address it resolves to is not public. A name
    that does not resolve now is judged by its spelling alone."""
    if looks_local(url):
        return True
    try:
        return any(not is_public_address(a) for a in _addresses(url))
    except UnresolvableHost:
        return False


def provider_base_url_is_private(url: str) -> bool:
    """Whether a provider's base URL reaches the server's own network: any address its
    host resolves to now is neither public nor allowed by LUXX_PROVIDER_ALLOWED_ADDRESSES.
    A name that does not resolve raises :class:`UnresolvableHost`: it cannot be judged,
    so it is not saved."""
    from agents.llm.transport import allowed_provider_addresses

    allowed, port = allowed_provider_addresses(), _port_of(url)
    return any(not is_public_address(a) and (str(a), port) not in allowed for a in _addresses(url))


def provider_may_reach_private(provider: Any) -> bool:
    """Whether connections of ``provider`` may go to loopback or private addresses: the
    policy's answer for its owner now (an admin demoted since loses it)."""
    policy = settings.LUXX_PROVIDER_PRIVATE_URLS
    if policy == "all":
        return True
    if policy == "none":
        return False
    return provider.user_id is None or bool(provider.user.is_luxx_admin)
