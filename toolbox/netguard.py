"""The network guard: which URLs the server may fetch on a user's (or a model's) behalf.

Only http and https, no credentials in the URL, and the host resolved once with every
address required to be public; the fetcher then connects to the checked address, so a
DNS answer cannot change between the check and the connection (no DNS rebinding). IP
literals are recognised in every spelling the C library accepts (``127.1``,
``0x7f000001``, ``2130706433``, ``017700000001``) and IPv6 forms that embed an IPv4
address (mapped, compatible, 6to4, Teredo, NAT64) are judged by what they embed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 4096
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_LEGACY_IPV4 = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)


class BlockedURL(Exception):
    """The URL is refused by policy; nothing was connected to."""


class ResolutionError(Exception):
    """The host name could not be resolved."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``) and what to ask for."""

    url: str
    scheme: str
    host: str
    port: int
    address: str
    request_target: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def connect_url(self) -> str:
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{address}:{self.port}{self.request_target}"


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any notation, or None for a host name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        # inet_aton accepts the legacy forms (octal, hex, 1-3 parts) that resolvers and
        # browsers accept too, so they must be judged as the address they mean.
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_public_address(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public_address(ip.ipv4_mapped)
        if ip in _IPV4_COMPATIBLE or ip in _NAT64_LOCAL:
            return False
        if ip in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and not is_public_address(ip.sixtofour):
            return False
        if ip.teredo is not None and not all(is_public_address(part) for part in ip.teredo):
            return False
        if ip.is_site_local:
            return False
    elif ip in _CGNAT:
        return False
    if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return False
    return ip.is_global


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to. The one place names are resolved (tests replace it)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ResolutionError(f"Could not resolve {host}: {error.strerror}.") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve_host_sync(host: str, port: int) -> list[str]:
    """See resolve_host()."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise ResolutionError(f"Could not resolve {host}: {getattr(error, 'strerror', error)}.") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def allowed_private_addresses() -> frozenset[tuple[str, int]]:
    """``LUXX_FETCH_ALLOWED_ADDRESSES``: exact ``ip:port`` pairs an administrator allows
    despite being private (an intranet service)."""
    pairs = set()
    for item in getattr(settings, "LUXX_FETCH_ALLOWED_ADDRESSES", []):
        host, _, port = item.rpartition(":")
        ip = parse_ip_literal(host.strip("[]"))
        if ip is not None and port.isdigit():
            pairs.add((str(ip), int(port)))
    return frozenset(pairs)


async def check_url(url: str, *, allow_private: bool | None = None) -> Target:
    """Check ``url`` against the policy and resolve it; raise :class:`BlockedURL` if refused.

    ``allow_private`` overrides LUXX_FETCH_ALLOW_PRIVATE for a caller an administrator
    allowed private addresses (an MCP server the admin added)."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise BlockedURL("The URL is missing or too long.")
    if any(ch in url for ch in "\x00\r\n\t\\ "):
        raise BlockedURL("The URL contains characters that are not allowed (whitespace, backslash or control characters).")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise BlockedURL(f"The URL is malformed: {error}.") from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise BlockedURL(f"Only http and https URLs can be fetched, not {scheme or 'a URL without a scheme'}.")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise BlockedURL("URLs with credentials (user:password@) are not allowed.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BlockedURL("The URL has no host.")
    if "%" in host:
        raise BlockedURL("IPv6 zone identifiers are not allowed.")
    port = port or (443 if scheme == "https" else 80)
    literal = parse_ip_literal(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            host.encode("idna")
        except UnicodeError:
            raise BlockedURL(f"The host name {host!r} is not valid.") from None
        addresses = await resolve_host(host, port)
        if not addresses:
            raise ResolutionError(f"Could not resolve {host}.")
    if allow_private is None:
        allow_private = bool(settings.LUXX_FETCH_ALLOW_PRIVATE)
    allowed = allowed_private_addresses()
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not (allow_private or is_public_address(ip) or (str(ip), port) in allowed):
            shown = host if literal is None else url
            raise BlockedURL(f"Refused: {shown} resolves to {ip}, which is not a public internet address.")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0].split("%")[0], request_target=target)
