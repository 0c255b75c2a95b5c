from __future__ import annotations

from django.urls import path

from chat import views

urlpatterns = [
    path("", views.ConversationListView.as_view(), name="conversation-list"),
    path("import", views.ConversationImportView.as_view(), name="conversation-import"),
    path("<str:conversation_id>", views.ConversationDetailView.as_view(), name="conversation-detail"),
    path("<str:conversation_id>/export", views.ConversationExportView.as_view(), name="conversation-export"),
]
