"""Settings of the server the browser tests drive: Luxx's own, as ``make run`` serves it,
with a fast password hasher. Every browser test registers a user, and the production
hasher costs about a quarter of a second of CPU per password."""

from luxx.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
