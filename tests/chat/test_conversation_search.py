"""Searching the conversation list by title, on the server, among the owner's only."""

from __future__ import annotations

from typing import Any

import pytest

from chat.models import Conversation
from tests.support.factories import api_client_for, make_user

pytestmark = pytest.mark.django_db


def test_search_keeps_the_owners_conversations_whose_title_contains_the_text() -> None:
    # Given conversations of the owner and a stranger's with a matching title
    owner, stranger = make_user(), make_user()
    for title in ("Trip to Kyoto", "kyoto food", "Tax return", "京都旅行"):
        Conversation.objects.create(user=owner, title=title)
    Conversation.objects.create(user=stranger, title="Kyoto secrets")

    # When the owner searches, in any case
    body = api_client_for(owner).get("/api/conversations/", {"search": "KYOTO", "page_size": 1}).json()["data"]

    # Then only the owner's matches count, paginated as usual
    assert body["total"] == 2
    assert body["page_size"] == 1
    assert [item["title"] for item in body["items"]] == ["kyoto food"]
    second = api_client_for(owner).get("/api/conversations/", {"search": "kyoto", "page_size": 1, "page": 2}).json()["data"]
    assert [item["title"] for item in second["items"]] == ["Trip to Kyoto"]
    chinese = api_client_for(owner).get("/api/conversations/", {"search": "京都"}).json()["data"]
    assert [item["title"] for item in chinese["items"]] == ["京都旅行"]


def test_an_empty_search_lists_everything() -> None:
    owner: Any = make_user()
    for title in ("a", "b"):
        Conversation.objects.create(user=owner, title=title)

    body = api_client_for(owner).get("/api/conversations/", {"search": "  "}).json()["data"]

    assert body["total"] == 2
