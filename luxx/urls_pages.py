"""Server-rendered pages of the browser UI (filled in by the UI work)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
