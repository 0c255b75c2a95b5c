"""Agents and rooms in the browser: two agents from the agents page, a room that streams
its transcript in both colours, stop and resume, a second tab following live and a reset;
failed turns' error cards, live, after a reload and in Chinese."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from fakellm import Scenario
from tests.e2e.conftest import add_fake_provider, api, register, unique

pytestmark = pytest.mark.e2e

AGENTS = [("Ada", "Software architect", "#10b981"), ("Bo", "QA engineer", "#f59e0b")]


def create_agent_in_ui(page: Any, name: str, role: str, color: str) -> None:
    page.get_by_role("button", name="New agent").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_label("Role").fill(role)
    dialog.get_by_label("Colour").fill(color)
    dialog.get_by_label("System prompt").fill(f"You are {name}, a careful {role}.")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".agent-card", has_text=name)).to_be_visible()


def transcript(page: Any) -> dict[str, tuple[str, str]]:
    return page.eval_on_selector_all(
        ".room-msg",
        "nodes => Object.fromEntries(nodes.map(n => [n.dataset.messageId, [n.dataset.sender, n.querySelector('.md').innerText.trim()]]))",
    )


def test_two_agents_discuss_in_a_room_that_stops_resumes_and_is_observed(page: Any, fake_llm: Any) -> None:
    # Given two agents made on the agents page
    register(page)
    add_fake_provider(page, fake_llm)
    page.goto("/agents/")
    expect(page.locator("#agents")).to_have_attribute("data-ready", "true")
    for name, role, color in AGENTS:
        create_agent_in_ui(page, name, role, color)

    # And a room with both, two rounds (a room's turns take the scripted replies in order)
    task = unique("Design the rooms API ")
    fake_llm.script(
        Scenario(tokens=240, tokens_per_second=30),
        Scenario(text="Bo checks the edge cases of round one."),
        Scenario(text="Ada sums up round two."),
        Scenario(text="Bo agrees and closes."),
    )
    page.goto("/rooms/")
    page.get_by_role("button", name="New room").click()
    page.get_by_label("Title").fill("Rooms API review")
    page.get_by_label("Task").fill(task)
    page.get_by_label("Rounds").fill("2")
    for name, _, _ in AGENTS:
        page.locator("#rf-templates label", has_text=name).locator("input").check()
    page.get_by_role("button", name="Create room").click()
    expect(page.locator("#room-title")).to_have_text("Rooms API review")
    room_url = page.url
    assert re.search(r"/rooms/room_[a-z0-9]+$", room_url)

    # And a second tab is watching the same room
    observer = page.context.new_page()
    observer.goto(room_url)
    expect(observer.locator("#rooms")).to_have_attribute("data-ready", "true")

    # When the room starts, the first speaker's reply streams chunk by chunk
    page.get_by_role("button", name="Start").click()
    ada = page.locator(".room-msg[data-sender=Ada]").first
    expect(ada.locator(".md")).to_contain_text("word3")
    early = len(ada.locator(".md").inner_text().split())
    expect(ada.locator(".md")).to_contain_text(f"word{early + 10}")
    expect(page.locator(".round-marker")).to_have_text(["Round 1"])
    expect(observer.locator(".room-msg[data-sender=Ada] .md")).to_contain_text(f"word{early + 10}")

    # And it is stopped mid-way
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#room-status")).to_have_attribute("data-status", "paused", timeout=15_000)
    expect(page.get_by_role("button", name="Resume")).to_be_enabled()
    expect(observer.locator("#room-status")).to_have_attribute("data-status", "paused")
    assert "word239" not in ada.locator(".md").inner_text()

    # Then resuming runs it to the end
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#room-status")).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(page.locator(".room-notice", has_text="The discussion is complete.")).to_be_visible()
    expect(page.locator(".round-marker")).to_have_text(["Round 1", "Round 2"])
    expect(page.locator(".room-msg[data-sender=Bo]").first).to_contain_text("Bo checks the edge cases")

    # And each speaker has its colour
    assert page.eval_on_selector(".room-msg[data-sender=Ada]", "n => n.style.getPropertyValue('--speaker')") == "#10b981"
    assert page.eval_on_selector(".room-msg[data-sender=Bo]", "n => n.style.getPropertyValue('--speaker')") == "#f59e0b"
    expect(page.locator(".room-msg[data-sender=Ada] .room-msg-name").first).to_have_css("color", "rgb(16, 185, 129)")

    # And the observing tab saw the same messages, live
    expect(observer.locator("#room-status")).to_have_attribute("data-status", "completed", timeout=15_000)
    expect(observer.locator(".room-msg")).to_have_count(page.locator(".room-msg").count())
    assert transcript(observer) == transcript(page)

    # And a reload shows the stored transcript
    page.reload()
    expect(page.locator("#rooms")).to_have_attribute("data-ready", "true")
    assert transcript(page) == transcript(observer)

    # When it is reset, the transcript is cleared
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Reset").click()
    expect(page.locator(".room-msg")).to_have_count(0)
    expect(page.locator("#room-status")).to_have_attribute("data-status", "idle")

    # And the observing tab, told by the server's room_reset, drops the old transcript too
    expect(observer.locator(".room-msg")).to_have_count(0)
    expect(observer.locator(".round-marker")).to_have_count(0)
    expect(observer.locator(".room-notice")).to_have_count(0)
    expect(observer.locator("#room-status")).to_have_attribute("data-status", "idle")
    expect(observer.locator("#room-round")).to_have_text("Round 0 of 2")
    assert page.errors == [] and observer.errors == []


def test_an_agent_failure_shows_an_error_card_and_the_room_goes_on(page: Any, fake_llm: Any) -> None:
    register(page)
    provider = add_fake_provider(page, fake_llm)
    task = unique("Failing task ")
    fake_llm.script(Scenario(text="Ada speaks."), *[Scenario(fault="500")] * 4, Scenario(text="Cy speaks."))
    room = page.evaluate(
        """async ([task, providerId]) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const agents = ["Ada", "Bo", "Cy"].map((name, i) => ({name, role: "member", provider_id: providerId, model: "fake-model",
                                                                  color: ["#10b981", "#f59e0b", "#2563eb"][i]}));
            const r = await fetch("/api/chat-rooms/", {method: "POST", headers: {"Content-Type": "application/json", "X-CSRFToken": token},
                                                       body: JSON.stringify({title: "Faults", task, max_rounds: 1, agents})});
            return (await r.json()).data;
        }""",
        [task, provider["id"]],
    )
    page.goto(f"/rooms/{room['id']}")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#room-status")).to_have_attribute("data-status", "completed", timeout=60_000)
    expect(page.locator(".room-error")).to_have_text(re.compile(r"^Bo could not answer: HTTP 500: the provider had an internal error"))
    expect(page.locator(".room-msg[data-sender=Cy]")).to_contain_text("Cy speaks.")
    live = transcript_order(page)
    assert live == ["Ada", "error", "Cy"]

    # And after a reload the error card is still there, in its place
    page.reload()
    expect(page.locator("#rooms")).to_have_attribute("data-ready", "true")
    expect(page.locator(".room-error")).to_have_count(1)
    expect(page.locator(".room-error")).to_have_text(re.compile(r"^Bo could not answer: HTTP 500: the provider had an internal error"))
    assert transcript_order(page) == live
    assert page.errors == []


def test_an_agent_without_a_provider_shows_its_reason_after_a_reload_and_in_chinese(page: Any) -> None:
    # Given a user with no provider, and a room with one agent
    register(page)
    page.goto("/rooms/")
    room = api(
        page, "POST", "/api/chat-rooms/", {"title": "No provider", "task": unique("Task "), "max_rounds": 1, "agents": [{"name": "Ada"}]}
    )
    page.goto(f"/rooms/{room['id']}")

    # When it runs, the agent's turn fails at once, with the reason in plain words
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#room-status")).to_have_attribute("data-status", "completed")
    reason = "Ada could not answer: This agent has no usable model provider or model."
    expect(page.locator(".room-error")).to_have_text(reason)

    # Then it is still there after a reload, in its round
    page.reload()
    expect(page.locator("#rooms")).to_have_attribute("data-ready", "true")
    expect(page.locator(".room-error")).to_have_text(reason)
    expect(page.locator(".round-marker")).to_have_text(["Round 1"])

    # And in Chinese it reads in Chinese
    page.locator("#lang-rail").select_option("zh-hans")
    page.wait_for_load_state()
    expect(page.locator("#rooms")).to_have_attribute("data-ready", "true")
    expect(page.locator(".room-error")).to_have_text("Ada 无法回答：这个智能体没有可用的模型提供方或模型。")
    assert page.errors == []


def transcript_order(page: Any) -> list[str]:
    """Who spoke, in order, with "error" for an error card."""
    return page.eval_on_selector_all(
        "#transcript-inner > .room-msg, #transcript-inner > .room-error",
        "nodes => nodes.map(n => n.classList.contains('room-error') ? 'error' : n.dataset.sender)",
    )


def test_a_room_with_a_seat_for_the_person_asks_them_and_goes_on_when_they_answer(page: Any, fake_llm: Any) -> None:
    # Given a room made in the form: a writer, a critic that says APPROVED, a summary, and me every round
    register(page)
    add_fake_provider(page, fake_llm)
    fake_llm.script(
        Scenario(text="Draft one: rooms that think."),
        Scenario(text="Too vague."),
        Scenario(text="Draft two: rooms that argue."),
        Scenario(text="APPROVED"),
        Scenario(text="We chose draft two."),
    )
    page.goto("/rooms/")
    page.get_by_role("button", name="New room").click()
    page.get_by_label("Title").fill("Slogan")
    page.get_by_label("Task").fill(unique("Write a slogan "))
    page.get_by_label("Rounds").fill("3")
    for name in ("Writer", "Critic"):
        page.get_by_role("button", name="Add an inline agent").click()
        page.locator(".inline-agent").last.get_by_label("Name").fill(name)
    page.get_by_label("Your seat").select_option("every_round")
    page.get_by_label("Someone says").fill("APPROVED")
    page.get_by_label("Summarizer (agent name, optional)").fill("Writer")
    page.get_by_role("button", name="Create room").click()
    expect(page.locator("#room-title")).to_have_text("Slogan")
    composer = page.locator("#room-composer")
    expect(composer).to_be_visible()
    expect(composer).not_to_have_class(re.compile("waiting"))

    # When it runs, the first round ends by asking me, and the composer calls for me
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#room-status")).to_have_attribute("data-status", "waiting", timeout=30_000)
    expect(composer).to_have_class(re.compile("waiting"))
    expect(page.locator("#room-composer-call")).to_have_text("Your turn: the agents are waiting for you.")
    expect(page.get_by_role("button", name="Start")).to_be_disabled()

    # And when I answer, the run goes on to the critic's approval and the writer's summary
    page.get_by_label("Your message to the room").fill("Make it punchier.")
    page.get_by_label("Your message to the room").press("Enter")
    expect(page.locator(".room-msg.room-human")).to_contain_text("Make it punchier.")
    expect(page.locator("#room-status")).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(page.locator(".room-notice", has_text="The discussion is complete: the closing phrase was said.")).to_be_visible()
    summary = page.locator(".room-msg.room-summary")
    expect(summary).to_contain_text("We chose draft two.")
    expect(summary.locator(".room-msg-name")).to_have_text("Summary by Writer")
    expect(composer).not_to_have_class(re.compile("waiting"))
    me = page.locator(".room-human").get_attribute("data-sender")
    live = transcript_order(page)
    assert live == ["Writer", "Critic", me, "Writer", "Critic", "Writer"]

    # Then a reload shows the same, and in Chinese it reads in Chinese
    page.reload()
    expect(page.locator("#rooms")).to_have_attribute("data-ready", "true")
    assert transcript_order(page) == live
    expect(page.locator(".room-msg.room-summary")).to_have_count(1)
    page.locator("#lang-rail").select_option("zh-hans")
    page.wait_for_load_state()
    expect(page.locator("#rooms")).to_have_attribute("data-ready", "true")
    expect(page.locator(".room-notice", has_text="讨论已完成：有人说出了结束语。")).to_be_visible()
    expect(page.locator(".room-summary .room-msg-name")).to_have_text("Writer 的总结")
    assert page.errors == []
