from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower


class PermissionLevel(models.IntegerChoices):
    READ_ONLY = 1, "READ_ONLY"
    WRITE = 2, "WRITE"
    EXECUTE = 3, "EXECUTE"
    ADMIN = 4, "ADMIN"


class LuxxUserManager(UserManager["User"]):
    def create_superuser(self, username: str, email: str | None = None, password: str | None = None, **extra_fields: Any) -> User:
        extra_fields.setdefault("permission_level", PermissionLevel.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(username__iexact=username)


class User(AbstractUser):
    """A Luxx user. ``role`` follows ``permission_level``: level 4 is an admin, who is
    also Django staff and superuser so Django admin works for them."""

    email = models.EmailField("email address")
    nickname = models.CharField(max_length=64, blank=True)
    avatar = models.URLField(max_length=500, blank=True)
    permission_level = models.PositiveSmallIntegerField(choices=PermissionLevel.choices, default=PermissionLevel.READ_ONLY)
    workspace_path = models.CharField(max_length=500, blank=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LuxxUserManager()  # type: ignore[misc]

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.username

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = (self.email or "").strip().lower()
        is_admin = self.permission_level == PermissionLevel.ADMIN
        self.is_staff = is_admin
        self.is_superuser = is_admin
        super().save(*args, **kwargs)

    @property
    def role(self) -> str:
        return "admin" if self.permission_level == PermissionLevel.ADMIN else "user"

    @property
    def is_luxx_admin(self) -> bool:
        return self.permission_level == PermissionLevel.ADMIN

    def has_level(self, level: int) -> bool:
        return self.is_active and self.permission_level >= level


class RevokedAccessToken(models.Model):
    """An access token revoked by logout, kept until it would have expired anyway."""

    jti = models.CharField(max_length=255, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.jti


class AuthCounter(models.Model):
    """A fixed-window counter of sign-in attempts, one row per client address or per
    account (see ``accounts.throttling``). Kept in the database so every server process
    shares it and a restart does not reset it."""

    key = models.CharField(max_length=255, unique=True)
    count = models.PositiveIntegerField(default=0)
    window_ends_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
