from __future__ import annotations

from rest_framework import serializers

from accounts.models import PermissionLevel, User
from luxx.fields import StrictBooleanField, StrictCharField, StrictEmailField, StrictIntegerField, StrictObjectSerializer


class UserSerializer(serializers.ModelSerializer):
    avatar = serializers.CharField(read_only=True, help_text="An image URL, or empty.")
    role = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "email", "nickname", "avatar", "role", "permission_level", "workspace_path", "is_active", "created_at"]
        read_only_fields = fields


# What the password validators check that a schema can state: at least 8 characters,
# letters and digits, and no NUL character (the similarity and common-password checks it
# cannot).
PASSWORD_PATTERN = r"^[^\x00]*(?:[^\W\d_][^\x00]*\d|\d[^\x00]*[^\W\d_])[^\x00]*$"


# Django's password validators give the messages; the schema states their rules.
PASSWORD_SCHEMA = {
    "minLength": 8,
    "pattern": PASSWORD_PATTERN,
    "description": "At least 8 characters with letters and digits, not too common nor too like the username or email.",
}


def password_field() -> StrictCharField:
    return StrictCharField(max_length=128, trim_whitespace=False)


class RegisterInput(StrictObjectSerializer):
    username = StrictCharField(max_length=150)
    email = StrictEmailField(max_length=254)
    password = password_field()

    openapi_extra = {"properties": {"username": {"pattern": r"^[\w.@+-]+$"}, "password": PASSWORD_SCHEMA}}
    nickname = StrictCharField(max_length=64, required=False, allow_blank=True)

    def validate_username(self, value: str) -> str:
        if not all(c.isalnum() or c in "._-@+" for c in value):
            raise serializers.ValidationError("Use letters, digits and . _ - @ + only.")
        return value


class RegisterOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class LoginInput(StrictObjectSerializer):
    username = StrictCharField(max_length=254, help_text="A username or an email address.")
    password = StrictCharField(max_length=128, trim_whitespace=False)


class TokenPairSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField(default="bearer")
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")


class LoginOutput(TokenPairSerializer):
    user = UserSerializer()


class RefreshInput(StrictObjectSerializer):
    refresh_token = StrictCharField()


class LogoutInput(StrictObjectSerializer):
    refresh_token = StrictCharField(required=False, allow_blank=True)


class UserListOutput(serializers.Serializer):
    users = UserSerializer(many=True)
    total = serializers.IntegerField()


# validate_workspace_path() as a pattern: empty, or absolute with no ".." segment and no NUL
# (a segment is anything but "..", spelt without look-arounds so generators can use it).
_SEGMENT = r"(?:[^/\x00.][^/\x00]*|\.(?:[^/\x00.][^/\x00]*)?|\.\.[^/\x00]+)?"
WORKSPACE_PATH_PATTERN = rf"^$|^(?:/{_SEGMENT})+$"


class UserAdminUpdateInput(StrictObjectSerializer):
    permission_level = StrictIntegerField(required=False, min_value=PermissionLevel.READ_ONLY, max_value=PermissionLevel.ADMIN)
    is_active = StrictBooleanField(required=False)
    workspace_path = StrictCharField(
        required=False, allow_null=True, allow_blank=True, max_length=500, help_text="An absolute directory; null or empty for the default."
    )

    def validate_workspace_path(self, value: str | None) -> str | None:
        # The tools refuse a relative workspace; say so here rather than at the first tool call.
        if value and (not value.startswith("/") or "\x00" in value or "/../" in f"{value}/"):
            raise serializers.ValidationError("Must be an absolute path without '..'.")
        return value

    openapi_body_required = True
    openapi_extra = {
        "properties": {"workspace_path": {"pattern": WORKSPACE_PATH_PATTERN}},
        "anyOf": [{"required": ["permission_level"]}, {"required": ["is_active"]}, {"required": ["workspace_path"]}],
    }

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError({"non_field_errors": ["Give at least one of permission_level, is_active, workspace_path."]})
        return attrs


# --- v1 dialect ---------------------------------------------------------------------


class V1RegisterInput(StrictObjectSerializer):
    email = StrictEmailField(max_length=254)
    password = password_field()

    openapi_extra = {"properties": {"password": PASSWORD_SCHEMA}}
    nickname = StrictCharField(max_length=64, required=False, allow_blank=True)


class V1UserSerializer(serializers.ModelSerializer):
    avatar = serializers.CharField(read_only=True, help_text="An image URL, or empty.")

    class Meta:
        model = User
        fields = ["id", "email", "nickname", "avatar", "created_at"]
        read_only_fields = fields


class V1RegisterOutput(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "nickname", "created_at"]
        read_only_fields = fields


class V1LoginInput(StrictObjectSerializer):
    email = StrictEmailField(max_length=254)
    password = StrictCharField(max_length=128, trim_whitespace=False)
