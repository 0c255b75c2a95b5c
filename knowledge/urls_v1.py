from __future__ import annotations

from django.urls import path

from knowledge import views

urlpatterns = [
    path("documents/upload", views.V1UploadView.as_view(), name="v1-document-upload"),
    path("search", views.V1SearchView.as_view(), name="v1-knowledge-search"),
]
