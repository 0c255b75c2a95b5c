from __future__ import annotations

from django.urls import path

from chat import views

urlpatterns = [
    path("", views.MessageListView.as_view(), name="message-list"),
    path("stream", views.message_stream, name="message-stream"),
    path("<str:message_id>", views.MessageDetailView.as_view(), name="message-detail"),
    path("<str:message_id>/events", views.message_events, name="message-events"),
    path("<str:message_id>/stop", views.MessageStopView.as_view(), name="message-stop"),
]
