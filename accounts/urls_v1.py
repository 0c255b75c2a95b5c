from __future__ import annotations

from django.urls import path

from accounts import views

urlpatterns = [
    path("register", views.V1RegisterView.as_view(), name="v1-users-register"),
    path("login", views.V1LoginView.as_view(), name="v1-users-login"),
    path("refresh", views.V1RefreshView.as_view(), name="v1-users-refresh"),
    path("me", views.V1MeView.as_view(), name="v1-users-me"),
]
