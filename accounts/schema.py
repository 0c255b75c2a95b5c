"""OpenAPI description of Luxx's bearer authentication (simplejwt with revocation)."""

from __future__ import annotations

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class LuxxJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.LuxxJWTAuthentication"
    name = "jwtAuth"
