"""Server-rendered pages of the browser UI."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from luxx import pages

urlpatterns: list[URLPattern | URLResolver] = [
    path("", pages.chat_page, name="chat"),
    path("c/<str:conversation_id>", pages.chat_page, name="chat-conversation"),
    path("agents/", pages.agents_page, name="agents"),
    path("rooms/", pages.rooms_page, name="rooms"),
    path("rooms/<str:room_id>", pages.rooms_page, name="room"),
    path("knowledge/", pages.knowledge_page, name="knowledge"),
    path("usage/", pages.usage_page, name="usage"),
    path("settings/", pages.settings_page, name="settings"),
    path("login/", pages.login_page, name="login"),
    path("register/", pages.register_page, name="register"),
    path("logout/", pages.logout_page, name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
]
