"""Auth endpoints of both dialects: validate, call a service, serialize."""

from __future__ import annotations

from django.contrib.auth import logout
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import serializers as s
from accounts import services
from accounts.models import User
from accounts.permissions import IsLuxxAdmin
from accounts.throttling import AuthRateThrottle
from luxx.api import ok, validated


class PublicAuthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]
    luxx_error_codes = {"POST": ["429"]}


class RegisterView(PublicAuthView):
    @extend_schema(tags=["auth"], summary="Register", request=s.RegisterInput, responses={201: s.RegisterOutput})
    def post(self, request: Request) -> Response:
        data = validated(s.RegisterInput, request.data)
        user = services.user_register(**data)
        return ok(s.RegisterOutput(user).data, "Registration successful", 201)


class LoginView(PublicAuthView):
    luxx_error_codes = {"POST": ["401", "429"]}

    @extend_schema(tags=["auth"], summary="Log in with a username or an email", request=s.LoginInput, responses=s.LoginOutput)
    def post(self, request: Request) -> Response:
        data = validated(s.LoginInput, request.data)
        user = services.user_authenticate(identifier=data["username"], password=data["password"])
        body = services.token_pair_issue(user=user)
        body["user"] = s.UserSerializer(user).data
        return ok(body, "Login successful")


class RefreshView(PublicAuthView):
    luxx_error_codes = {"POST": ["401", "429"]}

    @extend_schema(tags=["auth"], summary="Rotate a refresh token", request=s.RefreshInput, responses=s.TokenPairSerializer)
    def post(self, request: Request) -> Response:
        data = validated(s.RefreshInput, request.data)
        return ok(services.token_pair_refresh(refresh_token=data["refresh_token"]), "Token refreshed")


class LogoutView(APIView):
    @extend_schema(
        tags=["auth"],
        summary="Log out: revoke the access token (and the refresh token if sent)",
        request=s.LogoutInput,
        responses={200: None},
    )
    def post(self, request: Request) -> Response:
        # No body is fine; a body that is not a JSON object (null, a list...) is a 400.
        data = validated(s.LogoutInput, request.data)
        access = request.auth if request.auth is not None and hasattr(request.auth, "get") else None
        services.token_revoke(access_token=access, refresh_token=data.get("refresh_token"))  # type: ignore[arg-type]
        if request.auth is None:  # a browser session
            logout(request._request)
        return ok(None, "Logout successful")


class MeView(APIView):
    @extend_schema(tags=["auth"], summary="The current user", responses=s.UserSerializer)
    def get(self, request: Request) -> Response:
        return ok(s.UserSerializer(request.user).data)


class UserListView(APIView):
    permission_classes = [IsAuthenticated, IsLuxxAdmin]
    luxx_error_codes = {"GET": ["403"]}

    @extend_schema(tags=["auth"], summary="All users (admins only)", responses=s.UserListOutput)
    def get(self, request: Request) -> Response:
        users = User.objects.order_by("id")
        return ok({"users": s.UserSerializer(users, many=True).data, "total": users.count()})


class UserDetailView(APIView):
    permission_classes = [IsAuthenticated, IsLuxxAdmin]
    luxx_error_codes = {"PUT": ["403"]}

    @extend_schema(
        tags=["auth"],
        summary="Update a user's level, activity or workspace (admins only)",
        request=s.UserAdminUpdateInput,
        responses=s.UserSerializer,
    )
    def put(self, request: Request, user_id: int) -> Response:
        user = get_object_or_404(User, pk=user_id)
        data = validated(s.UserAdminUpdateInput, request.data)
        workspace_path = data.get("workspace_path")
        updated = services.user_update_by_admin(
            actor=request.user,  # type: ignore[arg-type]
            user=user,
            permission_level=data.get("permission_level"),
            is_active=data.get("is_active"),
            workspace_path=workspace_path or None,
            clear_workspace_path="workspace_path" in data and not workspace_path,
        )
        return ok(s.UserSerializer(updated).data, "User updated")


# --- v1 dialect ---------------------------------------------------------------------


class V1RegisterView(PublicAuthView):
    @extend_schema(tags=["v1 users"], summary="Register (v1)", request=s.V1RegisterInput, responses=s.V1RegisterOutput)
    def post(self, request: Request) -> Response:
        data = validated(s.V1RegisterInput, request.data)
        user = services.user_register(
            username=services.username_from_email(data["email"]),
            email=data["email"],
            password=data["password"],
            nickname=data.get("nickname", ""),
        )
        return ok(s.V1RegisterOutput(user).data)


class V1LoginView(PublicAuthView):
    luxx_error_codes = {"POST": ["401", "429"]}

    @extend_schema(tags=["v1 users"], summary="Log in by email (v1)", request=s.V1LoginInput, responses=s.TokenPairSerializer)
    def post(self, request: Request) -> Response:
        data = validated(s.V1LoginInput, request.data)
        user = services.user_authenticate_by_email(email=data["email"], password=data["password"])
        return ok(services.token_pair_issue(user=user))


class V1RefreshView(PublicAuthView):
    luxx_error_codes = {"POST": ["401", "429"]}

    @extend_schema(tags=["v1 users"], summary="Rotate a refresh token (v1)", request=s.RefreshInput, responses=s.TokenPairSerializer)
    def post(self, request: Request) -> Response:
        data = validated(s.RefreshInput, request.data)
        return ok(services.token_pair_refresh(refresh_token=data["refresh_token"]))


class V1MeView(APIView):
    @extend_schema(tags=["v1 users"], summary="The current user (v1)", responses=s.V1UserSerializer)
    def get(self, request: Request) -> Response:
        return ok(s.V1UserSerializer(request.user).data)
