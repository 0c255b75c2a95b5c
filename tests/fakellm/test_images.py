"""fakellm reports the images a request carried, in either provider's format."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.files.images import image_bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_it_reports_openai_image_parts(fake_llm: Any) -> None:
    content = [
        {"type": "text", "text": "What are these?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + _b64(image_bytes(30, 20))}},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + _b64(image_bytes(8, 6, fmt="JPEG"))}},
    ]

    response = httpx.post(
        f"{fake_llm.base_url}/v1/chat/completions", json={"model": "fake-model", "messages": [{"role": "user", "content": content}]}
    )

    assert response.json()["choices"][0]["message"]["content"] == "I see 2 images: 30x20 PNG, 8x6 JPEG. You said: What are these?"


def test_it_reports_anthropic_image_blocks_and_unreadable_ones(fake_llm: Any) -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": _b64(image_bytes(5, 4, fmt="WEBP"))}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": _b64(b"not an image")}},
    ]

    response = httpx.post(
        f"{fake_llm.base_url}/v1/messages",
        json={"model": "fake-model", "max_tokens": 50, "messages": [{"role": "user", "content": content}]},
    )

    assert response.json()["content"] == [{"type": "text", "text": "I see 2 images: 5x4 WEBP, unreadable. You said: "}]
