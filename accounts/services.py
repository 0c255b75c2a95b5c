"""Writes on users and tokens. Views call these; nothing else writes a User."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts import throttling
from accounts.models import PermissionLevel, RevokedAccessToken, User
from luxx.api import Forbidden, LuxxError, NotFound

LAST_ADMIN_MESSAGE = gettext_lazy("The last administrator cannot be demoted or deactivated.")
# The claim of an access token naming the refresh token issued with it.
REFRESH_JTI_CLAIM = "refresh_jti"


def _field_error(field: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({field: [message]})


def user_validate_password(*, password: str, user: User | None = None, field: str = "password") -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as error:
        raise exceptions.ValidationError({field: list(error.messages)}) from None


def user_check_registration(*, username: str, email: str, password: str, nickname: str = "") -> User:
    """Check a registration without saving it: every problem at once (a taken username, a
    taken email, each password rule broken), as one validation error by field. Returns
    the unsaved user."""
    email = email.strip().lower()
    username = username.strip()
    errors: dict[str, list[str]] = {}
    if username and User.objects.filter(username__iexact=username).exists():
        errors["username"] = [_("A user with this username already exists.")]
    if email and User.objects.filter(email__iexact=email).exists():
        errors["email"] = [_("A user with this email already exists.")]
    candidate = User(username=username, email=email, nickname=nickname)
    try:
        password_validation.validate_password(password, candidate)
    except DjangoValidationError as error:
        errors["password"] = list(error.messages)
    if errors:
        raise exceptions.ValidationError(errors)
    return candidate


def user_register(*, username: str, email: str, password: str, nickname: str = "") -> User:
    """Create a user. While no admin exists the first user becomes one (LUXX_FIRST_USER_ADMIN)."""
    candidate = user_check_registration(username=username, email=email, password=password, nickname=nickname)
    email, username = candidate.email, candidate.username
    try:
        with transaction.atomic():
            level = settings.LUXX_DEFAULT_PERMISSION_LEVEL
            if settings.LUXX_FIRST_USER_ADMIN and not User.objects.filter(permission_level=PermissionLevel.ADMIN).exists():
                level = PermissionLevel.ADMIN
            candidate.permission_level = level
            candidate.set_password(password)
            candidate.save()
    except IntegrityError:
        # Another registration with the same name or email won the race since the checks above.
        if User.objects.filter(email__iexact=email).exists():
            raise _field_error("email", _("A user with this email already exists.")) from None
        raise _field_error("username", _("A user with this username already exists.")) from None
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
    """The user a login names: by email when it looks like one, else (or when no email
    matches, since usernames may contain ``@``) by username, case-insensitively."""
    identifier = identifier.strip()
    if not identifier:
        return None
    if "@" in identifier:
        user = User.objects.filter(email__iexact=identifier).first()
        if user is not None:
            return user
    return User.objects.filter(username__iexact=identifier).first()


def user_authenticate(*, identifier: str, password: str) -> User:
    """Check credentials; the error does not tell a wrong password from an unknown user.
    Raises ``throttling.AccountLocked`` (429) once the account's failures are used up."""
    user = user_find_for_login(identifier)
    with throttling.login_attempt(user=user, identifier=identifier):
        if user is None or not user.check_password(password):
            raise exceptions.AuthenticationFailed(_("Invalid username or password."))
    if not user.is_active:
        raise exceptions.AuthenticationFailed(_("This account is disabled."))
    return user


def user_authenticate_by_email(*, email: str, password: str) -> User:
    """The v1 dialect's sign-in: unlike :func:`user_authenticate` it says when no account
    has the email (its contract has a code for it), under the same per-account limit."""
    user = user_find_for_login(email)
    with throttling.login_attempt(user=user, identifier=email):
        if user is None:
            raise LuxxError("User does not exist.", v1_code=40001)
        if not user.check_password(password):
            raise exceptions.AuthenticationFailed("Wrong password.")
    if not user.is_active:
        raise exceptions.AuthenticationFailed("This account is disabled.")
    return user


def token_pair_issue(*, user: User) -> dict[str, object]:
    refresh = RefreshToken.for_user(user)
    access = refresh.access_token
    # The pairing travels in the (signed) access token, so a logout that presents only the
    # access token can still revoke the refresh token issued with it.
    access[REFRESH_JTI_CLAIM] = refresh[jwt_settings.JTI_CLAIM]
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    return {
        "access_token": str(access),
        "refresh_token": str(refresh),
        "token_type": "bearer",
        "expires_in": int(jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
    }


_REFRESH_REFUSED = "The refresh token is invalid, expired or revoked."


def _refresh_token_blacklist(*, refresh: RefreshToken, user: User | None) -> bool:
    """Blacklist ``refresh``; False when it already was. ``get_or_create`` on the unique
    blacklist row makes this the single point where two concurrent uses of the same token
    are told apart: exactly one of them creates the row."""
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=refresh[jwt_settings.JTI_CLAIM],
        defaults={
            "user": user,
            "created_at": refresh.current_time,
            "token": str(refresh),
            "expires_at": datetime_from_epoch(refresh["exp"]),
        },
    )
    _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    return created


def token_pair_refresh(*, refresh_token: str) -> dict[str, object]:
    """Rotate: a new access and refresh token; the presented refresh token is blacklisted,
    so it is refused from then on (also when two requests present it at once)."""
    try:
        refresh = RefreshToken(refresh_token)  # type: ignore[arg-type]
    except TokenError:
        raise exceptions.AuthenticationFailed(_REFRESH_REFUSED) from None
    user = User.objects.filter(id=refresh.get(jwt_settings.USER_ID_CLAIM)).first()
    if user is None or not user.is_active:
        raise exceptions.AuthenticationFailed("The refresh token's user is unknown or disabled.")
    with transaction.atomic():
        if not _refresh_token_blacklist(refresh=refresh, user=user):
            raise exceptions.AuthenticationFailed(_REFRESH_REFUSED)
    return token_pair_issue(user=user)


def token_revoke(*, access_token: AccessToken | None, refresh_token: str | None) -> None:
    """Logout: deny the access token until it expires, and blacklist the refresh token:
    the one sent, and the one issued together with the access token (whose id the access
    token carries), so the session ends even when the client sends no refresh token."""
    if access_token is not None:
        jti = access_token.get("jti")
        expires_at = datetime.fromtimestamp(int(access_token.get("exp", 0)), tz=UTC)
        if jti:
            RevokedAccessToken.objects.get_or_create(jti=jti, defaults={"expires_at": expires_at})
        paired = access_token.get(REFRESH_JTI_CLAIM)
        outstanding = OutstandingToken.objects.filter(jti=paired).first() if paired else None
        if outstanding is not None:
            BlacklistedToken.objects.get_or_create(token=outstanding)
    if refresh_token:
        try:
            refresh = RefreshToken(refresh_token)  # type: ignore[arg-type]
        except TokenError:
            pass  # already revoked or expired: logout still succeeds
        else:
            owner = User.objects.filter(id=refresh.get(jwt_settings.USER_ID_CLAIM)).first()
            _refresh_token_blacklist(refresh=refresh, user=owner)
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
    neither demoted nor deactivated, so the installation always keeps an administrator.

    The target and every admin row are locked together, in primary-key order, so that two
    admins demoting each other at once queue up (the second then sees it would remove the
    last admin) instead of both succeeding or deadlocking."""
    with transaction.atomic():
        rows = {
            row.pk: row
            for row in User.objects.select_for_update().filter(Q(pk=user.pk) | Q(permission_level=PermissionLevel.ADMIN)).order_by("pk")
        }
        if user.pk not in rows:
            raise NotFound("User not found.")
        locked = rows[user.pk]
        loses_admin = user_is_active_admin(locked) and (
            (permission_level is not None and permission_level != PermissionLevel.ADMIN) or is_active is False
        )
        if loses_admin and not any(user_is_active_admin(row) for pk, row in rows.items() if pk != locked.pk):
            raise Forbidden(str(LAST_ADMIN_MESSAGE))
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


def user_is_active_admin(user: User) -> bool:
    return user.permission_level == PermissionLevel.ADMIN and user.is_active


def user_is_last_admin(*, user: User) -> bool:
    """Whether ``user`` is the only active administrator (as stored)."""
    if user.pk is None:
        return False
    admins = User.objects.filter(permission_level=PermissionLevel.ADMIN, is_active=True)
    return admins.filter(pk=user.pk).exists() and not admins.exclude(pk=user.pk).exists()


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
