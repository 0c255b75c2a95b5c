from __future__ import annotations

from typing import Any

from django.db.models import Exists
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings

from accounts.models import RevokedAccessToken, User
from luxx.prepared import PreparedQuery

# Every API request's user: compiled once (luxx.prepared), as it runs on every request.
_USER_WITH_REVOCATION = PreparedQuery(
    lambda user_id, jti: (
        User.objects.filter(**{api_settings.USER_ID_FIELD: user_id})
        .annotate(token_revoked=Exists(RevokedAccessToken.objects.filter(jti=jti)))
        .order_by()[:1]
    ),
    user_id=int,
    jti=str,
)


class LuxxJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication, refusing access tokens revoked by logout. The user and
    the revocation are read in one query."""

    def get_user(self, validated_token: Any) -> Any:
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError:
            raise InvalidToken("Token contained no recognizable user identification") from None
        jti = validated_token.get("jti") or ""
        user = _USER_WITH_REVOCATION.first(user_id=user_id, jti=jti)
        if user is None:
            raise AuthenticationFailed("User not found", code="user_not_found")
        if user.token_revoked:  # type: ignore[attr-defined]
            raise InvalidToken({"detail": "The token has been revoked.", "code": "token_not_valid"})
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        return user
