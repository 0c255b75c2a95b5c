"""What a newcomer meets first: the settings page with no provider, testing a provider,
and the registration form's errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from fakellm import Scenario
from tests.e2e.conftest import add_fake_provider, api, register, unique

pytestmark = pytest.mark.e2e


def test_the_settings_empty_state_points_at_the_presets_where_they_are(page: Any) -> None:
    # Given a new account with no provider
    register(page)

    # When the settings page opens
    page.goto("/settings/")
    empty = page.locator("#provider-list .empty")

    # Then the empty state sends the user to the presets, which are below it
    expect(empty).to_have_text("No providers yet. Pick a preset below to add one.")
    presets = page.get_by_role("group", name="Start from a preset")
    assert presets.bounding_box()["y"] > empty.bounding_box()["y"] + empty.bounding_box()["height"]
    assert page.errors == []


def test_testing_a_provider_says_whether_it_answered_in_plain_words(new_page: Any, fake_llm: Any) -> None:
    # Given a working provider and one that fails, for a user whose language is Chinese
    page = new_page(locale="zh-CN")
    register_zh(page)
    working = add_fake_provider(page, fake_llm)
    failing = api(
        page,
        "POST",
        "/api/providers/",
        {"name": "Broken", "provider_type": "openai", "base_url": fake_llm.base_url + "/v1", "api_key": "k", "default_model": "m"},
    )
    page.goto("/settings/")
    expect(page.locator("#settings")).to_have_attribute("data-ready", "true")

    # When the working one is tested, then the outcome is one sentence in the user's
    # language, not the raw completion
    card = page.locator(f".provider-card[data-provider-id='{working['id']}']")
    card.get_by_role("button", name="测试").click()
    expect(card.locator(".test-result")).to_have_text(re.compile(r"^✓ 已连接：fake-model 在 \d+ 毫秒内回复$"))
    expect(card.locator(".test-result")).to_have_class("test-result test-ok")

    # And when the failing one is tested, the failure is in plain words too
    fake_llm.script(Scenario(fault="500"))
    broken = page.locator(f".provider-card[data-provider-id='{failing['id']}']")
    broken.get_by_role("button", name="测试").click()
    expect(broken.locator(".test-result")).to_have_text("✗ 失败：HTTP 500：提供方内部出错（Scripted fault 500.）。")
    expect(broken.locator(".test-result")).to_have_class("test-result test-fail")
    assert page.errors == []


def register_zh(page: Any) -> str:
    username = unique("zh")
    page.goto("/register/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("电子邮箱").fill(f"{username}@example.com")
    page.get_by_label("密码", exact=True).fill("correct-horse-42")
    page.get_by_label("确认密码").fill("correct-horse-42")
    page.get_by_role("button", name="创建账户").click()
    page.wait_for_url("**/")
    return username


def test_registration_shows_every_error_at_once(page: Any) -> None:
    # Given a taken username
    taken = register(page)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")

    # When someone registers with it, a short password and a confirmation that differs
    page.goto("/register/")
    page.get_by_label("Username").fill(taken)
    page.get_by_label("Email").fill(f"{unique('new')}@example.com")
    page.get_by_label("Password", exact=True).fill("zkqv")
    page.get_by_label("Confirm password").fill("zkqw")
    page.get_by_role("button", name="Create account").click()

    # Then every problem is shown beside its field, not only the mismatch
    expect(page.locator("#id_username-error")).to_have_text("A user with this username already exists.")
    expect(page.locator("#id_password-error")).to_have_text(
        "This password is too short. It must contain at least 8 characters. The password must contain both letters and digits."
    )
    expect(page.locator("#id_password_confirm-error")).to_have_text("The two passwords do not match.")
    expect(page.get_by_label("Password", exact=True)).to_have_attribute("aria-invalid", "true")
    assert page.url.endswith("/register/")
    assert page.errors == []
