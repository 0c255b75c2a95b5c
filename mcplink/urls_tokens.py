from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from mcplink import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.McpTokenListView.as_view(), name="mcp-token-list"),
    path("<int:token_id>", views.McpTokenDetailView.as_view(), name="mcp-token-detail"),
]
