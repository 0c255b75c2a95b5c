from __future__ import annotations

from django.urls import path

from knowledge import views

urlpatterns = [
    path("documents/", views.DocumentListView.as_view(), name="document-list"),
    path("documents/<int:document_id>", views.DocumentDetailView.as_view(), name="document-detail"),
    path("documents/<int:document_id>/chunks", views.DocumentChunkListView.as_view(), name="document-chunk-list"),
    path("search", views.SearchView.as_view(), name="knowledge-search"),
]
