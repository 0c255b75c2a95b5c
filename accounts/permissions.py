from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.models import PermissionLevel


class IsLuxxAdmin(BasePermission):
    message = "This needs an administrator (permission level 4)."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.permission_level >= PermissionLevel.ADMIN)
