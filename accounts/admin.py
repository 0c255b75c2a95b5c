from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm
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


class LuxxUserChangeForm(UserChangeForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        # The instance still holds the stored values here (the form copies its data onto
        # it after clean()), so this asks about the user as they are now.
        if services.user_is_last_admin(user=self.instance):
            demoted = cleaned.get("permission_level") not in (None, PermissionLevel.ADMIN)
            deactivated = cleaned.get("is_active") is False
            if demoted or deactivated:
                raise forms.ValidationError(services.LAST_ADMIN_MESSAGE)
        return cleaned


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = LuxxUserChangeForm
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

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        if obj is not None and services.user_is_last_admin(user=obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        remaining_admins = User.objects.filter(permission_level=PermissionLevel.ADMIN, is_active=True).exclude(pk__in=queryset.values("pk"))
        if not remaining_admins.exists():
            kept = queryset.filter(permission_level=PermissionLevel.ADMIN, is_active=True)
            self.message_user(request, f"Kept {kept.count()} administrator(s): the last administrator cannot be deleted.", messages.WARNING)
            queryset = queryset.exclude(pk__in=kept.values("pk"))
        super().delete_queryset(request, queryset)
