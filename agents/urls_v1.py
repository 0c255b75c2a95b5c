from __future__ import annotations

from django.urls import path

from agents import views_v1

urlpatterns = [
    path("agents", views_v1.V1AgentListView.as_view(), name="v1-agent-list"),
    path("agents/<int:agent_id>", views_v1.V1AgentDetailView.as_view(), name="v1-agent-detail"),
]
