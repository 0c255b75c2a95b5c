from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import services
from accounts.models import PermissionLevel, User


def _level_action(level: PermissionLevel) -> Any:
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[User]) -> None:
        changed = services.users_set_permission_level(actor=request.user, users=list(queryset), level=level)  # type: ignore[arg-type]
        skipped = queryset.count() - changed
        modeladmin.message_user(request, f"Set {changed} user(s) to {level.label}.", messages.SUCCESS)
        if skipped:
            modeladmin.message_user(request, f"Skipped {skipped}: the last administrator keeps level 4.", messages.WARNING)

    action.__name__ = f"set_level_{level.value}"
    action.short_description = f"Set permission level to {level.value} ({level.label})"  # type: ignore[attr-defined]
    return action


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "nickname", "permission_level", "role", "is_active", "created_at", "last_login")
    list_filter = ("permission_level", "is_active")
    search_fields = ("username", "email", "nickname")
    ordering = ("id",)
    readonly_fields = ("created_at", "last_login", "date_joined", "is_staff", "is_superuser")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Profile", {"fields": ("email", "nickname", "avatar")}),
        ("Access", {"fields": ("permission_level", "is_active", "workspace_path", "is_staff", "is_superuser")}),
        ("Dates", {"fields": ("created_at", "last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "email", "permission_level", "password1", "password2")}),)
    actions = [_level_action(level) for level in PermissionLevel]
