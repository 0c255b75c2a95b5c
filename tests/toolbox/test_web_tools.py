"""web_fetch, batch_fetch and web_search against local servers, and the SSRF guard.

The only fake is the public internet: a stub resolver answers for public names, and
local aiohttp servers stand in for web sites and for a SearXNG instance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.toolbox.conftest import Listener, call, make_ctx
from toolbox import netguard

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = b"""<html><head><title>Luxx test page</title><style>p{}</style></head>
<body><nav><a href="/nav">Nav link</a></nav><script>var secret = 1;</script>
<main><h1>Hello</h1><p>Readable text.</p><a href="/next">Next page</a></main><footer>Footer</footer></body></html>"""


class Site:
    def __init__(self) -> None:
        self.hosts: list[str] = []
        self.queries: list[dict[str, str]] = []
        self.redirect_to = ""
        self.port = 0

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/page", self.page)
        app.router.add_get("/redirect", self.redirect)
        app.router.add_get("/loop", self.loop)
        app.router.add_get("/big", self.big)
        app.router.add_get("/search", self.search)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return runner

    async def page(self, request: web.Request) -> web.Response:
        self.hosts.append(request.headers["Host"])
        return web.Response(body=PAGE, content_type="text/html")

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(self.redirect_to)

    async def loop(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def big(self, request: web.Request) -> web.Response:
        return web.Response(body=b"a" * (3 * 1024 * 1024), content_type="text/plain")

    async def search(self, request: web.Request) -> web.Response:
        self.queries.append(dict(request.query))
        return web.json_response(
            {
                "results": [
                    {"title": "Luxx", "url": "https://luxx.example/", "content": "A self-hosted agent platform", "engine": "x"},
                    {"title": "Docs", "url": "https://luxx.example/docs", "content": "How to use it"},
                ]
            }
        )


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    item = Site()
    runner = await item.start()
    yield item
    await runner.cleanup()


PUBLIC_NAMES = {"public.example": ["93.184.216.34"], "rebind.example": ["93.184.216.34", "127.0.0.1"], "localhost": ["127.0.0.1"]}


@pytest.fixture(autouse=True)
def stub_resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Public names resolve from a table; the tests never reach real DNS or the internet."""
    names = dict(PUBLIC_NAMES)

    async def resolve(host: str, port: int) -> list[str]:
        if host not in names:
            raise netguard.ResolutionError(f"Could not resolve {host}.")
        return names[host]

    monkeypatch.setattr(netguard, "resolve_host", resolve)
    return names


# --- the guard ------------------------------------------------------------------------


def test_the_guard_is_on_by_default() -> None:
    from django.conf import settings

    assert settings.LUXX_FETCH_ALLOW_PRIVATE is False
    assert settings.LUXX_FETCH_ALLOWED_ADDRESSES == []


def refused_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/",
        f"http://127.1:{port}/",
        f"http://0x7f000001:{port}/",
        f"http://2130706433:{port}/",
        f"http://017700000001:{port}/",
        f"http://0.0.0.0:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://[::127.0.0.1]:{port}/",
        f"http://[::1]:{port}/",
        f"http://[2002:7f00:1::1]:{port}/",
        f"http://[64:ff9b::7f00:1]:{port}/",
        f"http://localhost:{port}/",
        f"http://rebind.example:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://[fec0::1]/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "file:///etc/passwd",
        f"gopher://127.0.0.1:{port}/",
        "ftp://public.example/",
        "http://user:pass@public.example/",
        "http://user@public.example/",
    ]


async def test_every_private_spelling_and_scheme_is_refused_before_connecting(listener: Listener) -> None:
    ctx = await make_ctx()

    for url in refused_urls(listener.port):
        outcome, result = await call("web_fetch", {"url": url}, ctx)
        assert outcome.success is False, url
        assert result["error"].startswith(("Refused: ", "Only http and https", "URLs with credentials")), (url, result)

    assert listener.connections == 0


async def test_public_addresses_pass_the_guard() -> None:
    target = await netguard.check_url("https://public.example/a?b=1")

    assert (target.address, target.port, target.request_target, target.host_header) == ("93.184.216.34", 443, "/a?b=1", "public.example")
    assert netguard.is_public_address(netguard.parse_ip_literal("2606:4700::1111")) is True  # type: ignore[arg-type]


async def test_a_redirect_from_an_allowed_server_to_loopback_is_refused(site: Site, listener: Listener, settings: Any) -> None:
    settings.LUXX_FETCH_ALLOWED_ADDRESSES = [f"127.0.0.1:{site.port}"]
    site.redirect_to = f"http://127.0.0.1:{listener.port}/admin"
    ctx = await make_ctx()

    outcome, result = await call("web_fetch", {"url": f"http://127.0.0.1:{site.port}/redirect"}, ctx)

    assert outcome.success is False
    assert result == {
        "error": f"Refused: http://127.0.0.1:{listener.port}/admin resolves to 127.0.0.1, which is not a public internet address."
    }
    assert listener.connections == 0


# --- fetching -------------------------------------------------------------------------


async def test_web_fetch_extracts_title_text_and_links(site: Site, settings: Any) -> None:
    settings.LUXX_FETCH_ALLOW_PRIVATE = True
    ctx = await make_ctx()

    outcome, result = await call("web_fetch", {"url": f"http://127.0.0.1:{site.port}/page"}, ctx)

    assert outcome.success
    assert result == {
        "url": f"http://127.0.0.1:{site.port}/page",
        "status_code": 200,
        "content_type": "text/html",
        "title": "Luxx test page",
        "text": "Hello\nReadable text.\nNext page",
        "links": [{"text": "Next page", "url": f"http://127.0.0.1:{site.port}/next"}],
        "truncated": False,
        "size": len(PAGE),
    }


async def test_web_fetch_connects_to_the_checked_address_with_the_host_name_in_the_host_header(
    site: Site, settings: Any, stub_resolver: dict[str, list[str]]
) -> None:
    settings.LUXX_FETCH_ALLOW_PRIVATE = True
    stub_resolver["intranet.example"] = ["127.0.0.1"]
    ctx = await make_ctx()

    outcome, result = await call("web_fetch", {"url": f"http://intranet.example:{site.port}/page"}, ctx)

    assert outcome.success and result["title"] == "Luxx test page"
    assert site.hosts == [f"intranet.example:{site.port}"]


async def test_redirects_are_followed_up_to_five_times(site: Site, settings: Any) -> None:
    settings.LUXX_FETCH_ALLOW_PRIVATE = True
    site.redirect_to = "/page"
    ctx = await make_ctx()

    followed = await call("web_fetch", {"url": f"http://127.0.0.1:{site.port}/redirect"}, ctx)
    looping = await call("web_fetch", {"url": f"http://127.0.0.1:{site.port}/loop"}, ctx)

    assert followed[1]["url"] == f"http://127.0.0.1:{site.port}/page"
    assert looping[1] == {"error": f"Too many redirects (more than 5) starting from http://127.0.0.1:{site.port}/loop."}


async def test_a_large_body_is_cut_at_2_mb(site: Site, settings: Any) -> None:
    settings.LUXX_FETCH_ALLOW_PRIVATE = True
    ctx = await make_ctx()

    _, result = await call("web_fetch", {"url": f"http://127.0.0.1:{site.port}/big", "max_chars": 100}, ctx)

    assert result["size"] == 2 * 1024 * 1024
    assert result["truncated"] is True
    assert result["text"] == "a" * 100 + f"\n…[truncated: {2 * 1024 * 1024} characters in all]"


async def test_batch_fetch_reports_each_url(site: Site, settings: Any) -> None:
    settings.LUXX_FETCH_ALLOW_PRIVATE = True
    ctx = await make_ctx()
    page = f"http://127.0.0.1:{site.port}/page"

    outcome, result = await call("batch_fetch", {"urls": [page, "file:///etc/passwd", page]}, ctx)

    assert outcome.success
    assert (result["succeeded"], result["failed"]) == (2, 1)
    assert [r["success"] for r in result["results"]] == [True, False, True]
    assert result["results"][0]["title"] == "Luxx test page"
    assert result["results"][1] == {
        "url": "file:///etc/passwd",
        "success": False,
        "error": "Only http and https URLs can be fetched, not file.",
    }


async def test_web_search_uses_a_searxng_backend(site: Site, settings: Any) -> None:
    settings.LUXX_WEB_SEARCH_BACKEND = f"http://127.0.0.1:{site.port}"
    ctx = await make_ctx()

    outcome, result = await call("web_search", {"query": "luxx agents", "max_results": 1}, ctx)

    assert outcome.success
    assert result == {
        "query": "luxx agents",
        "results": [{"title": "Luxx", "url": "https://luxx.example/", "snippet": "A self-hosted agent platform"}],
        "count": 1,
    }
    assert site.queries == [{"q": "luxx agents", "format": "json"}]
