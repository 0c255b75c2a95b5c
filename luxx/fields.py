"""Serializer fields that refuse the wrong JSON type instead of coercing it
(DRF turns ``123`` into ``"123"`` and ``"2"`` into ``2``; a JSON API should say 400)."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

# Public ids (see luxx/ids.py); the schema states them so that clients need not guess.
CONVERSATION_ID_PATTERN = r"^conv_[a-z0-9]{16}$"
MESSAGE_ID_PATTERN = r"^msg_[a-z0-9]{16}$"
ROOM_ID_PATTERN = r"^room_[a-z0-9]{16}$"
COLOR_PATTERN = r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"


class StrictCharField(serializers.CharField):
    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"not_an_integer": "Must be an integer."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            if isinstance(data, float) and data.is_integer():
                data = int(data)
            else:
                self.fail("not_an_integer")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    default_error_messages = {"not_a_number": "Must be a number."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("not_a_number")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"not_a_boolean": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("not_a_boolean")
        return data


class StrictEmailField(serializers.EmailField):
    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictObjectSerializer(serializers.Serializer):
    """Refuses a body that is not a JSON object (a list, a string...) with a clear 400."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["The request body must be a JSON object."]})
        return super().to_internal_value(data)


def pattern(regex: str, message: str) -> RegexValidator:
    """A validator that drf-spectacular publishes as the field's ``pattern``."""
    return RegexValidator(regex, message)


class ColorField(StrictCharField):
    """A CSS hex colour: #10b981 or #fff."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 7)
        super().__init__(validators=[pattern(COLOR_PATTERN, "Use a colour like #10b981 or #fff.")], **kwargs)
