"""Django admin: attachments listed without their bytes; model capabilities editable."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from files.models import ModelCapability
from files.vision import model_accepts_images, vision_by_default
from tests.files.images import image_bytes
from tests.support.factories import DEFAULT_PASSWORD, api_client_for, make_admin, make_user

pytestmark = pytest.mark.django_db


def test_an_administrator_sees_files_and_sets_a_models_capability() -> None:
    admin = make_admin()
    owner = make_user()
    file_id = (
        api_client_for(owner)
        .post("/api/files/", {"file": SimpleUploadedFile("a.png", image_bytes())}, format="multipart")
        .json()["data"]["id"]
    )
    browser = Client()
    assert browser.login(username=admin.username, password=DEFAULT_PASSWORD)

    assert browser.get("/admin/files/file/").status_code == 200
    change = browser.get(f"/admin/files/file/{file_id}/change/")
    assert change.status_code == 200
    assert b'name="data"' not in change.content
    added = browser.post("/admin/files/modelcapability/add/", {"model": "my-vlm-*", "vision": "on"})
    assert added.status_code == 302
    assert list(ModelCapability.objects.values_list("provider_id", "model", "vision")) == [(None, "my-vlm-*", True)]


@pytest.mark.parametrize(
    ("provider_type", "model", "vision"),
    [
        ("openai", "gpt-4o-mini", True),
        ("openai", "gpt-4.1", True),
        ("openai", "o3-mini", True),
        ("openai", "o1-mini", False),
        ("openai", "gpt-3.5-turbo", False),
        ("openai", "deepseek-chat", False),
        ("openai", "qwen2.5-vl-72b-instruct", True),
        ("openai", "glm-4v-plus", True),
        ("openai", "llama3.2-vision", True),
        ("openai", "llava:13b", True),
        ("anthropic", "claude-sonnet-4-5", True),
        ("anthropic", "claude-3-5-haiku-latest", True),
        ("anthropic", "claude-2.1", False),
        ("openai", "fake-model", True),
    ],
)
def test_known_model_names_have_sensible_defaults(provider_type: str, model: str, vision: bool) -> None:
    assert vision_by_default(provider_type=provider_type, model=model) is vision


def test_a_providers_own_setting_wins_over_one_for_all_providers(settings: Any) -> None:
    from agents.models import Provider

    owner = make_user()
    provider = Provider.objects.create(user=owner, name="p", provider_type="openai", base_url="http://127.0.0.1:9/v1", default_model="m")
    ModelCapability.objects.create(provider=None, model="gpt-4o*", vision=False)
    ModelCapability.objects.create(provider=provider, model="gpt-4o-mini", vision=True)

    assert model_accepts_images(provider_id=provider.pk, provider_type="openai", model="gpt-4o-mini") is True
    assert model_accepts_images(provider_id=provider.pk, provider_type="openai", model="gpt-4o") is False
    assert model_accepts_images(provider_id=None, provider_type="openai", model="gpt-4o-mini") is False
