from __future__ import annotations

from django.urls import path

from rooms import views

urlpatterns = [
    path("", views.RoomListView.as_view(), name="room-list"),
    path("<str:room_id>", views.RoomDetailView.as_view(), name="room-detail"),
    path("<str:room_id>/start", views.RoomStartView.as_view(), name="room-start"),
    path("<str:room_id>/stop", views.RoomStopView.as_view(), name="room-stop"),
    path("<str:room_id>/reset", views.RoomResetView.as_view(), name="room-reset"),
    path("<str:room_id>/messages", views.RoomMessagesView.as_view(), name="room-messages"),
    path("<str:room_id>/events", views.RoomEventsView.as_view(), name="room-events"),
    path("<str:room_id>/agents", views.RoomAgentListView.as_view(), name="room-agents"),
    path("<str:room_id>/agents/<int:agent_id>", views.RoomAgentDetailView.as_view(), name="room-agent-detail"),
]
