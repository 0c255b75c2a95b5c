"""``manage.py check`` reports whether the code sandbox works on this server."""

from __future__ import annotations

from typing import Any

from django.core import checks


@checks.register("luxx")
def sandbox_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from toolbox.sandbox import sandbox_availability

    available, reason = sandbox_availability()
    if available:
        return []
    return [
        checks.Warning(
            f"The code sandbox is unavailable: {reason}",
            hint="python_execute, python_eval and shell_execute are disabled until it works. Install it with: apt-get install bubblewrap",
            id="toolbox.W001",
        )
    ]
