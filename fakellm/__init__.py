"""A fake LLM server for tests, benchmarks and trying Luxx without an API key.

Scripting: in tests, ``FakeLLM.script(Scenario(...), match=...)``; from anywhere, a
marker in the last user message, e.g. ``[[fake {"tokens": 200, "tokens_per_second": 100}]]``,
or ``POST /_fake/script``. See README.md beside this file.
"""

from __future__ import annotations

from fakellm.scenario import Scenario, ToolCall
from fakellm.server import FakeLLM, RecordedRequest

__all__ = ["FakeLLM", "RecordedRequest", "Scenario", "ToolCall"]
