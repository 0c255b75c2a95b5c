from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fakellm import FakeLLM


class Command(BaseCommand):
    help = "Serve the fake LLM (OpenAI- and Anthropic-compatible) on 127.0.0.1, to try Luxx without an API key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument(
            "--loop", choices=["asyncio", "uvloop"], default="asyncio", help="the event loop (uvloop: less CPU per streamed chunk)"
        )

    def handle(self, *args: Any, host: str, port: int, loop: str, **options: Any) -> None:
        server = FakeLLM(host=host, port=port)
        self.stdout.write(
            f"Fake LLM on http://{host}:{port}\n"
            f"  OpenAI-compatible provider: base URL http://{host}:{port}/v1, any API key, model fake-model\n"
            f"  Anthropic provider:         base URL http://{host}:{port}, any API key\n"
            '  Script a reply by writing e.g. [[fake {"thinking": "hmm", "tokens": 50, "tokens_per_second": 20}]] in a message.'
        )
        self.stdout.flush()
        server.serve_forever(loop=loop)
