from __future__ import annotations

from django.contrib import admin

from knowledge.models import Chunk, Document


class ChunkInline(admin.TabularInline):
    model = Chunk
    fields = ("index", "heading", "page", "content")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "agent", "file_type", "status", "chunk_count", "size", "created_at")
    list_filter = ("status", "file_type")
    search_fields = ("name", "user__username", "sha256")
    readonly_fields = ("sha256", "size", "chunk_count", "status", "error_message", "created_at", "updated_at")
    raw_id_fields = ("user", "agent")
    inlines = [ChunkInline]
