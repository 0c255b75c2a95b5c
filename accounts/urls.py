from __future__ import annotations

from django.urls import path

from accounts import views

urlpatterns = [
    path("register", views.RegisterView.as_view(), name="auth-register"),
    path("login", views.LoginView.as_view(), name="auth-login"),
    path("logout", views.LogoutView.as_view(), name="auth-logout"),
    path("refresh", views.RefreshView.as_view(), name="auth-refresh"),
    path("me", views.MeView.as_view(), name="auth-me"),
    path("users", views.UserListView.as_view(), name="auth-users"),
    path("users/<int:user_id>", views.UserDetailView.as_view(), name="auth-user-detail"),
]
