from __future__ import annotations

from django.urls import path

from files import views

urlpatterns = [
    path("", views.FileListView.as_view(), name="file-list"),
    path("<str:file_id>", views.FileDetailView.as_view(), name="file-detail"),
    path("<str:file_id>/content", views.FileContentView.as_view(), name="file-content"),
    path("<str:file_id>/text", views.FileTextView.as_view(), name="file-text"),
]
