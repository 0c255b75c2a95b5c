"""Where a provider's base URL points: the server's own network, or the outside world.

A provider on a loopback or private address (a local Ollama, vLLM, the fake LLM) would
let its owner make the server probe its own network, so only admins and shared providers
may use one unless LUXX_PROVIDER_PRIVATE_URLS says otherwise.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from toolbox.netguard import is_public_address, parse_ip_literal

# What a provider's base URL may be (provider_check_base_url() and the OpenAPI schema):
# http(s), a host name of letters, digits, dots and hyphens or a bracketed IPv6 address, a
# port, then a path and query without spaces, control characters or a #fragment. The
# LLM SDKs' URL parser refuses more than urlsplit() does, so this is checked up front.
BASE_URL_PATTERN = r"^https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?(?:[/?][^\s#\x00-\x1f\x7f]*)?$"

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


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


def points_to_private_network(url: str) -> bool:
    """True when the host is local, or any address it resolves to is not public. A name
    that does not resolve now is judged by its spelling alone (the call will just fail)."""
    if looks_local(url):
        return True
    host = host_of(url)
    if parse_ip_literal(host) is not None:
        return False
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return False
    for info in infos:
        address = parse_ip_literal(str(info[4][0]).split("%", 1)[0])
        if address is None or not is_public_address(address):
            return True
    return False
