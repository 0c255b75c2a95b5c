"""Regenerate the screenshots in docs/screenshots/ (light and dark):

    .venv/bin/python -m tests.e2e.screenshots

Runs a throw-away server and the fake LLM, fills them with a little content, and shoots
the chat mid-stream, a room mid-run, the knowledge page and the settings page.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect, sync_playwright

from fakellm import FakeLLM, Scenario, ToolCall
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, add_fake_provider, api, register, running_server

OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 760}

THINKING = "The user wants a quick way to find the slowest endpoints. I'll sort the sample timings with the data tool first, then explain."
ANSWER = """Here are your endpoints, slowest first:

| endpoint | p95 (ms) |
|---|---|
| `/api/messages/stream` | 840 |
| `/api/knowledge/search` | 210 |
| `/api/agents/` | 35 |

To measure them yourself, time each call and keep the 95th percentile:

```python
import statistics

def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]
```

The streaming endpoint is expected to be the slowest: it stays open while the model writes. \
What matters there is the time to the first token, which stays low as long as the provider answers quickly. \
For the others, look at the database queries first: a missing index is the usual suspect."""

ROOM_LINES = [  # the third line streams slowly: the screenshot catches it mid-way
    "I'd keep **rounds** explicit: each agent speaks once per round, in turn order, and sees the whole transcript. "
    "That makes pausing trivial — we stop after the current chunk and resume with the next speaker.",
    "Agreed. From a testing angle, every transition needs an event: `room_started`, `round_start`, `message_start`, "
    "chunks, `message_end`, then `room_paused` or `room_completed`. An agent failure should be an `agent_error`, "
    "not the end of the room.",
    "Then observers can replay from `Last-Event-ID`, and a second tab sees exactly what the first one saw.",
]


def seed(page: Any, fake: FakeLLM) -> None:
    register(page, "ada")
    add_fake_provider(page, fake)
    api(
        page,
        "POST",
        "/api/providers/",
        {"name": "DeepSeek", "provider_type": "openai", "base_url": "https://api.deepseek.com/v1", "default_model": "deepseek-chat"},
    )
    for name, role, color in [("Architect", "Designs the API", "#10b981"), ("Tester", "Finds the edge cases", "#f59e0b")]:
        api(page, "POST", "/api/agents/", {"name": name, "role": role, "color": color, "system_prompt": f"You are the {name.lower()}."})
    for title in ["Trip to Kyoto in April", "Refactor the billing module", "SQL window functions"]:
        api(page, "POST", "/api/conversations/", {"title": title})


def shoot(page: Any, name: str, scheme: str, *, height: int | None = None) -> None:
    """Screenshot the viewport; pages that scroll inside the layout get a taller one."""
    path = OUT / f"{name}-{scheme}.png"
    page.evaluate("document.activeElement && document.activeElement.blur()")
    if height:
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
        page.evaluate("document.querySelector('.page').scrollTop = 0")
    page.screenshot(path=str(path))
    page.set_viewport_size(VIEWPORT)
    print("wrote", path.relative_to(ROOT))


def chat(page: Any, fake: FakeLLM, scheme: str) -> None:
    fake.script(
        Scenario(thinking=THINKING, tool_calls=[ToolCall("process_data", {"data": '[{"p95": 35}, {"p95": 840}]', "sort_by": "p95"})]),
        Scenario(text=ANSWER, tokens_per_second=40),
        match="slowest",
    )
    page.goto("/")
    expect(page.locator("#chat")).to_have_attribute("data-ready", "true")
    page.get_by_role("button", name="Tools").click()
    page.locator("[data-tool=process_data] input").check()
    page.keyboard.press("Escape")
    page.get_by_role("textbox", name="Message").fill("Which of my API endpoints are the slowest?")
    page.get_by_role("textbox", name="Message").press("Enter")
    reply = page.locator("[data-role=assistant]").last
    expect(reply.locator(".md").last).to_contain_text("def p95", timeout=30_000)
    shoot(page, "chat", scheme)
    expect(reply).to_have_attribute("data-status", "complete", timeout=30_000)


def room(page: Any, fake: FakeLLM, scheme: str) -> None:
    fake.script(*[Scenario(text=line, tokens_per_second=100 if i < 2 else 8) for i, line in enumerate(ROOM_LINES)])
    agents = api(page, "GET", "/api/agents/")
    created = api(
        page,
        "POST",
        "/api/chat-rooms/",
        {
            "title": "Design the rooms API",
            "task": "Agree on how a multi-agent room runs: rounds, pausing, and what observers see.",
            "max_rounds": 2,
            "agents": [{"agent_id": a["id"]} for a in agents],
        },
    )
    page.goto(f"/rooms/{created['id']}")
    expect(page.locator("#rooms")).to_have_attribute("data-ready", "true")
    page.get_by_role("button", name="Start").click()
    expect(page.locator(".room-msg").nth(2)).to_contain_text("replay", timeout=30_000)
    shoot(page, "room", scheme)
    expect(page.locator("#room-status")).to_have_attribute("data-status", "completed", timeout=30_000)


def knowledge(page: Any, scheme: str) -> None:
    page.goto("/knowledge/")
    expect(page.locator("#knowledge")).to_have_attribute("data-ready", "true")
    if page.locator("#document-rows tr[data-status=ready]").count() == 0:
        files = [
            ("returns-policy.md", b"# Returns policy\n\nCustomers may return any item within 30 days for a full refund.\n"),
            ("shipping.md", b"# Shipping\n\nOrders ship within two business days from our warehouse in Rotterdam.\n"),
            ("onboarding.txt", b"Welcome aboard. Your laptop arrives on day one; accounts are created by IT.\n"),
        ]
        page.locator("#file-input").set_input_files([{"name": n, "mimeType": "text/plain", "buffer": b} for n, b in files])
        expect(page.locator(".upload-row[data-status=ready]")).to_have_count(3, timeout=30_000)
    page.get_by_role("searchbox", name="Search the knowledge base").fill("return an item for a refund")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator(".result").first).to_be_visible()
    shoot(page, "knowledge", scheme, height=1040)


def settings(page: Any, scheme: str) -> None:
    page.goto("/settings/")
    expect(page.locator("#settings")).to_have_attribute("data-ready", "true")
    page.locator(".provider-card").first.get_by_role("button", name="Test").click()
    expect(page.locator(".provider-card .test-result").first).to_contain_text("HTTP")
    shoot(page, "settings", scheme, height=1040)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    fake = FakeLLM().start()
    try:
        with running_server() as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            signed_in: dict[str, Any] | None = None
            for scheme in ("light", "dark"):
                context = browser.new_context(base_url=url, viewport=VIEWPORT, color_scheme=scheme, storage_state=signed_in)
                context.set_default_timeout(15_000)
                page = context.new_page()
                if signed_in is None:
                    seed(page, fake)
                    signed_in = context.storage_state()
                chat(page, fake, scheme)
                room(page, fake, scheme)
                knowledge(page, scheme)
                settings(page, scheme)
                context.close()
            browser.close()
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
