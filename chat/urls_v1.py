from __future__ import annotations

from django.urls import path

from chat import views_v1

urlpatterns = [
    path("conversations", views_v1.V1ConversationCreateView.as_view(), name="v1-conversation-create"),
    path("conversations/<str:conversation_id>/messages", views_v1.v1_messages, name="v1-conversation-messages"),
]
