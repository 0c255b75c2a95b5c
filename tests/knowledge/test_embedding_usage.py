"""Embeddings are recorded in the usage ledger: an upload's for its document, a search's
for its user, and a chat question's in the turn's own set-up transaction."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from agents.models import Provider
from chat.models import Conversation
from fakellm import Scenario
from knowledge import services
from tests.chat.conftest import make_provider
from tests.support.factories import api_client_for, make_user
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

DOC = "# Fruit\n\nBananas are yellow and sweet.\n\n# Vehicles\n\nThe red car drives fast on the highway."


def test_upload_search_and_chat_embeddings_are_recorded(fake_llm: Any) -> None:
    user = make_user(level=3)
    embeddings = Provider.objects.create(user=None, name="embeddings", provider_type="openai", base_url=fake_llm.base_url + "/v1")
    with override_settings(LUXX_EMBEDDINGS_PROVIDER_ID=embeddings.pk):
        document = services.document_upload(user=user, agent=None, name="fruit.md", data=DOC.encode(), background=False)
        services.knowledge_search(user_id=user.pk, query="bananas", top_k=3)
        chat_provider = make_provider(user, fake_llm)
        conversation = Conversation.objects.create(user=user, provider=chat_provider, model="fake-model")
        fake_llm.script(Scenario(text="Yellow."))
        response = api_client_for(user).post("/api/messages/", {"conversation_id": conversation.pk, "content": "bananas?"}, format="json")
        assert response.status_code == 200, response.content
    rows = list(UsageRecord.objects.order_by("id"))
    assert [(r.kind, r.provider_id, r.document_id, r.conversation_id) for r in rows] == [
        ("embedding", embeddings.pk, document.pk, None),
        ("embedding", embeddings.pk, None, None),
        ("embedding", embeddings.pk, None, None),
        ("chat", chat_provider.pk, None, conversation.pk),
    ]
    assert all(r.prompt_tokens > 0 and r.completion_tokens == 0 for r in rows[:3])
