from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from mcplink import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.McpServerListView.as_view(), name="mcp-server-list"),
    path("<int:server_id>", views.McpServerDetailView.as_view(), name="mcp-server-detail"),
    path("<int:server_id>/refresh", views.McpServerRefreshView.as_view(), name="mcp-server-refresh"),
]
