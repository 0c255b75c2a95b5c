"""Whether a model accepts images: an administrator's setting (ModelCapability, in Django
admin) when there is one, else a default by the model's name."""

from __future__ import annotations

import fnmatch
import re

from django.db.models import Q

from files.models import ModelCapability

# Model names (lower case) known to accept images. Anthropic's Claude 3 and later all do;
# among OpenAI-compatible names, the families below (and any name that says "vision" or
# "-vl"). Everything else is taken as text only until an administrator says otherwise.
_VISION_NAMES = re.compile(
    r"""(
        ^gpt-4o | ^chatgpt-4o | ^gpt-4\.1 | ^gpt-4\.5 | ^gpt-4-turbo | ^gpt-5 | ^o1(?!-mini)(-|$) | ^o3(-|$) | ^o4-mini
      | ^claude-(3|sonnet-4|opus-4|haiku-4|4) | ^claude-[a-z0-9.-]*-4
      | gemini | gemma-?3 | pixtral | llava | bakllava | moondream | minicpm-v | llama-?3\.2-vision | llama-?4
      | qwen[0-9.]*-?vl | qwen-vl | qvq | glm-4(\.[0-9]+)?v | cogvlm | internvl | deepseek-vl | grok-[0-9.]*-?vision | mistral-small-3
      | vision | -vl\b | ^fake-model$ | ^fake-vision
    )""",
    re.VERBOSE,
)
_TEXT_ONLY = re.compile(r"^(claude-(instant|2))|^fake-text")


def vision_by_default(*, provider_type: str, model: str) -> bool:
    """The default for a model name: see _VISION_NAMES. fakellm's own ``fake-model``
    counts as a vision model (it reports the images it receives)."""
    name = model.strip().lower()
    if _TEXT_ONLY.search(name):
        return False
    if provider_type == "anthropic" and name.startswith("claude"):
        return True
    return bool(_VISION_NAMES.search(name))


def model_accepts_images(*, provider_id: int | None, provider_type: str, model: str) -> bool:
    """An administrator's setting for this provider and model, then one for every provider,
    exact names before patterns; else the default by name. One query."""
    settings = list(
        ModelCapability.objects.filter(Q(provider_id=provider_id) | Q(provider__isnull=True)).values_list("provider_id", "model", "vision")
    )

    def rank(row: tuple[int | None, str, bool]) -> tuple[int, int]:
        return (0 if row[0] is not None else 1, 0 if "*" not in row[1] else 1)

    for _provider, pattern, vision in sorted(settings, key=rank):
        if pattern == model or ("*" in pattern and fnmatch.fnmatchcase(model.lower(), pattern.lower())):
            return vision
    return vision_by_default(provider_type=provider_type, model=model)
