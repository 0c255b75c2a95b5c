from __future__ import annotations

from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class LettersAndDigitsValidator:
    """A password must mix letters and digits."""

    def validate(self, password: str, user: object = None) -> None:
        if not (any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
            raise ValidationError(_("The password must contain both letters and digits."), code="password_letters_digits")

    def get_help_text(self) -> str:
        return _("Your password must contain both letters and digits.")


class ExactCommonPasswordValidator(CommonPasswordValidator):
    """Django's list of common passwords, matched exactly as typed.

    Django lower-cases before matching, which refuses the API documentation's own example
    password ``Abc12345``; an exact match still refuses ``password1`` or ``qwerty123``.
    """

    def validate(self, password: str, user: object = None) -> None:
        if password.strip() in self.passwords:
            raise ValidationError(_("This password is too common."), code="password_too_common")
