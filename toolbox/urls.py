from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from toolbox import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.ToolListView.as_view(), name="tool-list"),
    path("<str:name>", views.ToolDetailView.as_view(), name="tool-detail"),
    path("<str:name>/execute", views.ToolExecuteView.as_view(), name="tool-execute"),
]
