from __future__ import annotations

from django.contrib import admin

from files.models import File, ModelCapability


@admin.register(File)
class FileAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "user", "kind", "content_type", "size", "conversation", "created_at")
    list_filter = ("kind", "content_type")
    search_fields = ("id", "name", "user__username")
    readonly_fields = ("id", "name", "kind", "content_type", "size", "width", "height", "sha256", "created_at")
    exclude = ("data", "chunks", "text")
    raw_id_fields = ("user", "conversation")


@admin.register(ModelCapability)
class ModelCapabilityAdmin(admin.ModelAdmin):
    list_display = ("model", "provider", "vision")
    list_filter = ("vision",)
    search_fields = ("model",)
    raw_id_fields = ("provider",)
