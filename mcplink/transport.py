"""The HTTP transport under the MCP SDK's client: the network guard at every request.

Every request the SDK sends (the first one, each later one, any redirect it follows) goes
through :func:`toolbox.netguard.check_url` and then connects to the address that was
checked, with the original host in the Host header and in TLS SNI, exactly like
``web_fetch``: a name cannot resolve to a public address when saved and to a private one
when used. Responses are cut off past a size limit so a server cannot fill memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2

from toolbox import netguard

MAX_RESPONSE_BYTES = 8 * 1024 * 1024


class AddressRefused(httpx2.ConnectError):
    """The guard refused the URL; nothing was connected to."""


class ResponseTooLarge(httpx2.ReadError):
    """The server sent more than MAX_RESPONSE_BYTES in one response."""

    def __init__(self, limit: int):
        super().__init__(f"the server sent more than {limit // (1024 * 1024)} MB in one response")
        self.limit = limit


class _LimitedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, limit: int):
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in self._inner:
            received += len(chunk)
            if received > self._limit:
                raise ResponseTooLarge(self._limit)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """``allow_private``: the administrator allowed this server a private address (as for
    providers); otherwise only public addresses and LUXX_FETCH_ALLOWED_ADDRESSES."""

    def __init__(self, *, allow_private: bool, max_response_bytes: int = MAX_RESPONSE_BYTES):
        super().__init__(trust_env=False)
        self.allow_private = allow_private
        self.max_response_bytes = max_response_bytes
        self.last_status: int | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            target = await netguard.check_url(str(request.url), allow_private=self.allow_private or None)
        except (netguard.BlockedURL, netguard.ResolutionError) as error:
            raise AddressRefused(str(error), request=request) from None
        # The Host header keeps the name the request was made for; the connection goes to
        # the checked address, and TLS still verifies the certificate against the name.
        request.url = request.url.copy_with(host=target.address)
        if target.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": target.host}
        response = await super().handle_async_request(request)
        self.last_status = response.status_code
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        response.stream = _LimitedStream(response.stream, self.max_response_bytes)
        return response
