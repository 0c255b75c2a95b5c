from __future__ import annotations

from django.urls import path

from agents import views

urlpatterns = [
    path("", views.ProviderListView.as_view(), name="provider-list"),
    path("<int:provider_id>", views.ProviderDetailView.as_view(), name="provider-detail"),
    path("<int:provider_id>/test", views.ProviderTestView.as_view(), name="provider-test"),
]
