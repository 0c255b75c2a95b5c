"""The one HTTP fetcher behind web_fetch and batch_fetch.

Every hop (the first request and each redirect, followed by hand, at most five) goes
through :func:`toolbox.netguard.check_url` and connects to the address that was checked,
with the original host in the Host header and in TLS SNI (so certificates are verified
against the name). Bodies stop at a size limit; HTML is reduced to readable text.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from toolbox import netguard

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT_SECONDS = 15.0
MAX_LINKS = 100
USER_AGENT = "Mozilla/5.0 (compatible; LuxxFetcher/1.0)"
REDIRECT_CODES = {301, 302, 303, 307, 308}
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml", "application/rss", "application/atom")
_NOISE_TAGS = ["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg", "iframe", "template"]


class FetchError(Exception):
    """A fetch that could not complete (refused, unreachable, too many redirects, ...)."""


@dataclass
class Page:
    url: str
    status_code: int
    content_type: str
    title: str
    text: str
    links: list[dict[str, str]] = field(default_factory=list)
    truncated: bool = False
    size: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def fetch(url: str, *, max_bytes: int = MAX_BODY_BYTES, time_limit: float = TIMEOUT_SECONDS) -> Page:
    try:
        return await asyncio.wait_for(_fetch(url, max_bytes), timeout=time_limit)
    except TimeoutError:
        raise FetchError(f"The fetch of {url} took longer than {time_limit:g} seconds.") from None


async def _fetch(url: str, max_bytes: int) -> Page:
    current = url
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=httpx.Timeout(TIMEOUT_SECONDS)) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                target = await netguard.check_url(current)
            except (netguard.BlockedURL, netguard.ResolutionError) as error:
                raise FetchError(str(error)) from None
            request = client.build_request(
                "GET",
                target.connect_url,
                headers={"Host": target.host_header, "User-Agent": USER_AGENT, "Accept": "text/html,text/plain,*/*;q=0.5"},
                extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
            )
            try:
                response = await client.send(request, stream=True)
            except httpx.HTTPError as error:
                raise FetchError(f"Could not fetch {current}: {type(error).__name__} {error}".strip()) from None
            try:
                location = response.headers.get("location")
                if response.status_code in REDIRECT_CODES and location:
                    current = urljoin(current, location)
                    continue
                body, truncated = await _read_limited(response, max_bytes)
                return _page(current, response, body, truncated)
            finally:
                await response.aclose()
    raise FetchError(f"Too many redirects (more than {MAX_REDIRECTS}) starting from {url}.")


async def _read_limited(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > max_bytes:
            return bytes(body[:max_bytes]), True
    return bytes(body), False


def _page(url: str, response: httpx.Response, body: bytes, truncated: bool) -> Page:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    page = Page(url=url, status_code=response.status_code, content_type=content_type, title="", text="")
    page.truncated, page.size = truncated, len(body)
    if "html" in content_type or (not content_type and body.lstrip()[:1] == b"<"):
        page.title, page.text, page.links = extract_html(body, url)
    elif content_type.startswith(TEXT_TYPES) or not content_type:
        page.text = body.decode(response.charset_encoding or "utf-8", errors="replace")
    else:
        page.text = f"[{content_type} content of {len(body)} bytes; not shown as text]"
    return page


def extract_html(body: bytes, base_url: str) -> tuple[str, str, list[dict[str, str]]]:
    """Title, readable main text (no scripts, styles, navigation) and links of a page."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(body, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    links: list[dict[str, str]] = []
    for tag in soup.find_all(_NOISE_TAGS):
        tag.decompose()
    main = soup.find("main") or soup.find("article") or soup.body or soup
    for anchor in main.find_all("a", href=True):
        href = urljoin(base_url, str(anchor["href"]))
        if href.startswith(("http://", "https://")) and len(links) < MAX_LINKS:
            links.append({"text": anchor.get_text(" ", strip=True), "url": href})
    text = main.get_text("\n", strip=True)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return title, text, links
