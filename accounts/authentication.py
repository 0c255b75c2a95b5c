from __future__ import annotations

from typing import Any

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from accounts.models import RevokedAccessToken


class LuxxJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication, refusing access tokens revoked by logout."""

    def get_validated_token(self, raw_token: bytes) -> Any:
        token = super().get_validated_token(raw_token)
        jti = token.get("jti")
        if jti and RevokedAccessToken.objects.filter(jti=jti).exists():
            raise InvalidToken({"detail": "The token has been revoked.", "code": "token_not_valid"})
        return token
