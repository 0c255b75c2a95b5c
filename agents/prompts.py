"""System-prompt placeholders: ``{date}``, ``{user_name}`` and ``{agent_name}``."""

from __future__ import annotations

from datetime import date


def render_system_prompt(template: str, *, user_name: str, agent_name: str, today: date | None = None) -> str:
    """Substitute exactly the three placeholders; every other brace stays as written
    (so prompts may contain JSON or code), which ``str.format`` would not allow."""
    values = {"{date}": (today or date.today()).isoformat(), "{user_name}": user_name, "{agent_name}": agent_name}
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    return template
