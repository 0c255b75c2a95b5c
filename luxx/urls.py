from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.throttling import throttled_form_posts
from luxx import views
from luxx.metrics import metrics_view

v1_patterns: list[URLPattern | URLResolver] = [
    path("health", views.V1HealthView.as_view(), name="v1-health"),
    path("users/", include("accounts.urls_v1")),
    path("", include("agents.urls_v1")),
    path("", include("chat.urls_v1")),
    path("knowledge/", include("knowledge.urls_v1")),
    re_path(r"^.*$", views.UnknownEndpointView.as_view()),
]

api_patterns: list[URLPattern | URLResolver] = [
    path("", views.InfoView.as_view(), name="api-info"),
    path("health", views.HealthView.as_view(), name="health"),
    path("health/ready", views.ReadinessView.as_view(), name="health-ready"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: pages allow no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("v1/", include(v1_patterns)),
    path("auth/", include("accounts.urls")),
    path("providers/", include("agents.urls_providers")),
    path("agents/", include("agents.urls")),
    path("conversations/", include("chat.urls_conversations")),
    path("messages/", include("chat.urls")),
    path("chat-rooms/", include("rooms.urls")),
    path("knowledge/", include("knowledge.urls")),
    path("files/", include("files.urls")),
    path("tools/", include("toolbox.urls")),
    path("mcp-servers/", include("mcplink.urls")),
    path("mcp-tokens/", include("mcplink.urls_tokens")),
    path("", include("usage.urls")),
    re_path(r"^.*$", views.UnknownEndpointView.as_view()),
]

handler400 = "luxx.views.handler400"
handler403 = "luxx.views.handler403"
handler404 = "luxx.views.handler404"
handler500 = "luxx.views.handler500"

urlpatterns = [
    path("api/", include(api_patterns)),
    path("docs", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("admin/login/", throttled_form_posts(admin.site.login)),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
    path("", include("luxx.urls_pages")),
]

if settings.DEBUG or getattr(settings, "LUXX_TEST_VIEWS", False):
    from luxx import test_views

    urlpatterns.insert(0, path("api/__test__/", include(test_views.luxx_patterns)))
    urlpatterns.insert(0, path("api/v1/__test__/", include(test_views.v1_patterns)))
