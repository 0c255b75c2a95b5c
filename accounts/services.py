"""Writes on users and tokens. Views call these; nothing else writes a User."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import PermissionLevel, RevokedAccessToken, User
from luxx.api import Forbidden, LuxxError


def _field_error(field: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({field: [message]})


def user_validate_password(*, password: str, user: User | None = None, field: str = "password") -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as error:
        raise exceptions.ValidationError({field: list(error.messages)}) from None


def user_register(*, username: str, email: str, password: str, nickname: str = "") -> User:
    """Create a user. While no admin exists the first user becomes one (LUXX_FIRST_USER_ADMIN)."""
    email = email.strip().lower()
    username = username.strip()
    if User.objects.filter(username__iexact=username).exists():
        raise _field_error("username", "A user with this username already exists.")
    if User.objects.filter(email__iexact=email).exists():
        raise _field_error("email", "A user with this email already exists.")
    candidate = User(username=username, email=email, nickname=nickname)
    user_validate_password(password=password, user=candidate)
    try:
        with transaction.atomic():
            level = settings.LUXX_DEFAULT_PERMISSION_LEVEL
            if settings.LUXX_FIRST_USER_ADMIN and not User.objects.filter(permission_level=PermissionLevel.ADMIN).exists():
                level = PermissionLevel.ADMIN
            candidate.permission_level = level
            candidate.set_password(password)
            candidate.save()
    except IntegrityError:
        raise LuxxError("A user with this username or email already exists.") from None
    return candidate


def username_from_email(email: str) -> str:
    """A free username derived from an email's local part (for the v1 dialect)."""
    base = "".join(c for c in email.split("@", 1)[0] if c.isalnum() or c in "._-")[:140] or "user"
    name, suffix = base, 1
    while User.objects.filter(username__iexact=name).exists():
        suffix += 1
        name = f"{base}{suffix}"
    return name


def user_find_for_login(identifier: str) -> User | None:
    identifier = identifier.strip()
    lookup = {"email__iexact": identifier} if "@" in identifier else {"username__iexact": identifier}
    return User.objects.filter(**lookup).first()


def user_authenticate(*, identifier: str, password: str) -> User:
    """Check credentials; the error does not tell a wrong password from an unknown user."""
    user = user_find_for_login(identifier)
    if user is None or not user.check_password(password):
        raise exceptions.AuthenticationFailed("Invalid username or password.")
    if not user.is_active:
        raise exceptions.AuthenticationFailed("This account is disabled.")
    return user


def token_pair_issue(*, user: User) -> dict[str, object]:
    refresh = RefreshToken.for_user(user)
    access = refresh.access_token
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    return {
        "access_token": str(access),
        "refresh_token": str(refresh),
        "token_type": "bearer",
        "expires_in": int(jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
    }


def token_pair_refresh(*, refresh_token: str) -> dict[str, object]:
    """Rotate: a new access and refresh token; the presented refresh token is blacklisted."""
    try:
        refresh = RefreshToken(refresh_token)  # type: ignore[arg-type]
    except TokenError:
        raise exceptions.AuthenticationFailed("The refresh token is invalid, expired or revoked.") from None
    user = User.objects.filter(id=refresh.get("user_id")).first()
    if user is None or not user.is_active:
        raise exceptions.AuthenticationFailed("The refresh token's user is unknown or disabled.")
    try:
        refresh.blacklist()
    except TokenError:
        raise exceptions.AuthenticationFailed("The refresh token is invalid, expired or revoked.") from None
    return token_pair_issue(user=user)


def token_revoke(*, access_token: AccessToken | None, refresh_token: str | None) -> None:
    """Logout: deny the access token until it expires, and blacklist the refresh token."""
    if access_token is not None:
        jti = access_token.get("jti")
        expires_at = datetime.fromtimestamp(int(access_token.get("exp", 0)), tz=UTC)
        if jti:
            RevokedAccessToken.objects.get_or_create(jti=jti, defaults={"expires_at": expires_at})
    if refresh_token:
        try:
            RefreshToken(refresh_token).blacklist()  # type: ignore[arg-type]
        except TokenError:
            pass  # already revoked or expired: logout still succeeds
    RevokedAccessToken.objects.filter(expires_at__lt=timezone.now()).delete()


def user_update_by_admin(
    *,
    actor: User,
    user: User,
    permission_level: int | None = None,
    is_active: bool | None = None,
    workspace_path: str | None = None,
    clear_workspace_path: bool = False,
) -> User:
    """An admin changes a user's level, activity or workspace. The last active admin can be
    neither demoted nor deactivated, so the installation always keeps an administrator."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        loses_admin = locked.permission_level == PermissionLevel.ADMIN and (
            (permission_level is not None and permission_level != PermissionLevel.ADMIN) or is_active is False
        )
        if loses_admin:
            other_admins = (
                User.objects.select_for_update()
                .filter(permission_level=PermissionLevel.ADMIN, is_active=True)
                .exclude(pk=locked.pk)
                .count()
            )
            if other_admins == 0:
                raise Forbidden("The last administrator cannot be demoted or deactivated.")
        if permission_level is not None:
            locked.permission_level = permission_level
        if is_active is not None:
            locked.is_active = is_active
        if clear_workspace_path:
            locked.workspace_path = None
        elif workspace_path is not None:
            locked.workspace_path = workspace_path
        locked.save()
    return locked


def users_set_permission_level(*, actor: User, users: list[User], level: int) -> int:
    """Bulk level change (Django admin action), keeping at least one admin."""
    changed = 0
    for user in users:
        try:
            user_update_by_admin(actor=actor, user=user, permission_level=level)
            changed += 1
        except Forbidden:
            continue
    return changed
