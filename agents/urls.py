from __future__ import annotations

from django.urls import path

from agents import views

urlpatterns = [
    path("", views.AgentListView.as_view(), name="agent-list"),
    path("<int:agent_id>", views.AgentDetailView.as_view(), name="agent-detail"),
]
