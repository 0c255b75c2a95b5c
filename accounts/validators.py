from __future__ import annotations

from django.core.exceptions import ValidationError


class LettersAndDigitsValidator:
    """A password must mix letters and digits."""

    def validate(self, password: str, user: object = None) -> None:
        if not (any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
            raise ValidationError("The password must contain both letters and digits.", code="password_letters_digits")

    def get_help_text(self) -> str:
        return "Your password must contain both letters and digits."
