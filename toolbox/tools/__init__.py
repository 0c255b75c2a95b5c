"""The built-in tools, one module per category."""

from __future__ import annotations

from toolbox.registry import ToolRegistry


def register_builtin_tools(registry: ToolRegistry) -> None:
    from toolbox.tools import code, crawler, data, file, shell

    for module in (code, shell, file, crawler, data):
        module.register(registry)
