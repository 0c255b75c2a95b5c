from __future__ import annotations

from django.urls import path

from usage import views

urlpatterns = [
    path("usage/", views.UsageView.as_view(), name="usage"),
    path("admin/usage/", views.AdminUsageView.as_view(), name="admin-usage"),
    path("admin/users/<int:user_id>/limits", views.AdminUserLimitsView.as_view(), name="admin-user-limits"),
]
