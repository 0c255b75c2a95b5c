"""The HTTP transport of the SDK clients: aiohttp, with the address of every connection
checked when it is made and then used (pinned).

Both SDKs speak through an httpx-compatible client; Luxx gives them one whose transport
is aiohttp (their own ``aiohttp`` adapter), which relays a streamed reply at a fraction of
the CPU per chunk of the default transport. The connector resolves each host name through
:class:`GuardedResolver`, which refuses non-public addresses for providers that may not
reach the server's own network, and aiohttp connects to exactly the addresses it returned:
a DNS answer that changes after the provider was saved (rebinding, or the attacker's own
record) is checked again at every connection. Host names that are address literals never
reach a resolver, so a request hook checks those, on the first request and on every
redirect hop.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx2
from aiohttp.abc import AbstractResolver, ResolveResult
from django.conf import settings

# The SDK's own aiohttp transport for its httpx client (the one its DefaultAioHttpClient
# uses), given a session of ours so that the connector and its resolver are Luxx's.
from openai._vendor.httpx_aiohttp.transport import AiohttpTransport, map_aiohttp_exceptions

from toolbox import netguard
from toolbox.netguard import IPAddress, is_public_address, parse_ip_literal


class ProviderAddressRefused(OSError):
    """The provider's host is, or resolved to, an address this provider may not reach."""


def allowed_provider_addresses() -> frozenset[tuple[str, int]]:
    """``LUXX_PROVIDER_ALLOWED_ADDRESSES``: exact ``ip:port`` pairs on private networks that
    every provider may reach (an intranet model server an administrator vouches for)."""
    pairs = set()
    for item in getattr(settings, "LUXX_PROVIDER_ALLOWED_ADDRESSES", []):
        host, _, port = item.rpartition(":")
        ip = parse_ip_literal(host.strip("[]"))
        if ip is not None and port.isdigit():
            pairs.add((str(ip), int(port)))
    return frozenset(pairs)


def check_provider_address(ip: IPAddress, port: int, *, allow_private: bool) -> None:
    if allow_private or is_public_address(ip) or (str(ip), port) in allowed_provider_addresses():
        return
    raise ProviderAddressRefused(f"The provider's address {ip} is on a loopback or private network, which this provider may not reach.")


class GuardedResolver(AbstractResolver):
    """Resolves through :func:`toolbox.netguard.resolve_host` and refuses the answer when
    any address is one the provider may not reach."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results: list[ResolveResult] = []
        for address in await netguard.resolve_host(host, port):
            ip = parse_ip_literal(address.split("%", 1)[0])
            if ip is None:
                raise ProviderAddressRefused(f"{host} resolved to something that is not an address.")
            check_provider_address(ip, port, allow_private=self.allow_private)
            results.append(
                ResolveResult(
                    hostname=host,
                    host=str(ip),
                    port=port,
                    family=socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
            )
        return results

    async def close(self) -> None:
        return None


def http_client(*, allow_private: bool, timeout: httpx2.Timeout) -> httpx2.AsyncClient:
    """An httpx client for an SDK, over aiohttp, with every connection's address checked.

    Must be created inside the event loop that will use it (aiohttp binds to it)."""
    guard_private = not allow_private

    async def check_literal_host(request: httpx2.Request) -> None:
        if not guard_private:
            return
        ip = parse_ip_literal(request.url.host)
        if ip is None:
            return
        try:
            check_provider_address(ip, request.url.port or (443 if request.url.scheme == "https" else 80), allow_private=False)
        except ProviderAddressRefused as refusal:
            # Raised as the transport's own connection error, so the SDKs report it as one.
            raise httpx2.ConnectError(str(refusal), request=request) from refusal

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(allow_private=allow_private),
            limit=0,  # streams to one provider are not queued behind one another
            keepalive_timeout=30,
        )
        return aiohttp.ClientSession(connector=connector)

    transport: Any = AiohttpTransport(client=session)
    return httpx2.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=True,
        event_hooks={"request": [check_literal_host]},
    )


def response_chunks(response: httpx2.Response) -> AsyncIterator[bytes]:
    """The body of a streamed response, each read as it arrives.

    Read from the aiohttp response underneath when the body is not content-encoded: the
    httpx layer above it (a byte stream wrapper, a decoder and a chunker, each an await
    per read) is what it costs to relay a token, so a stream skips it; an encoded body
    goes through httpx, which decodes it."""
    raw = aiohttp_response(response)
    if raw is None or response.headers.get("content-encoding", "identity") != "identity":
        return response.aiter_bytes()
    return _read_each(raw)


def aiohttp_response(response: httpx2.Response) -> aiohttp.ClientResponse | None:
    """The aiohttp response under an httpx one (the client wraps the transport's stream
    once more, to time it), or None when another transport made it."""
    stream: Any = response.stream
    for _ in range(3):
        raw = getattr(stream, "_aiohttp_response", None)
        if isinstance(raw, aiohttp.ClientResponse):
            return raw
        stream = getattr(stream, "_stream", None)
    return None


async def _read_each(raw: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    with map_aiohttp_exceptions():
        async for chunk in raw.content.iter_any():
            yield chunk
