"""The fake LLM server: a real HTTP server on 127.0.0.1 speaking the OpenAI Chat
Completions and the Anthropic Messages protocols, scriptable per request."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import json
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from fakellm import anthropic_protocol, openai_protocol
from fakellm.embeddings import embed, encode_base64
from fakellm.scenario import Scenario, estimate_tokens, scenario_from_marker

# What both real APIs accept as a function name; anything else is their 400.
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _invalid_tool_name(body: dict[str, Any]) -> str | None:
    """The first tool name, offered or called in the history, that the real APIs refuse."""
    names = [(tool.get("function") or tool).get("name", "") for tool in body.get("tools") or () if isinstance(tool, dict)]
    for message in body.get("messages") or ():
        names += [(call.get("function") or {}).get("name", "") for call in message.get("tool_calls") or ()]
        content = message.get("content")
        if isinstance(content, list):
            names += [block.get("name", "") for block in content if isinstance(block, dict) and block.get("type") == "tool_use"]
    return next((name for name in names if not TOOL_NAME.match(str(name))), None)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")
    return ""


def _image_bytes(part: dict[str, Any]) -> bytes | None:
    """The bytes of an image content part: OpenAI ``image_url`` with a data URL, or an
    Anthropic ``image`` block with a base64 source."""
    try:
        if part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if url.startswith("data:") and ";base64," in url:
                return base64.b64decode(url.split(";base64,", 1)[1], validate=True)
        elif part.get("type") == "image":
            source = part.get("source") or {}
            if source.get("type") == "base64":
                return base64.b64decode(source.get("data", ""), validate=True)
    except (ValueError, binascii.Error):
        return None
    return None


def describe_images(message: dict[str, Any] | None) -> list[str]:
    """``WIDTHxHEIGHT FORMAT`` of each image in a message (``unreadable`` when it cannot be
    decoded), so tests can prove what reached the model."""
    content = (message or {}).get("content")
    if not isinstance(content, list):
        return []
    found = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") not in ("image_url", "image"):
            continue
        data = _image_bytes(part)
        try:
            from PIL import Image

            with Image.open(io.BytesIO(data or b"")) as image:
                found.append(f"{image.width}x{image.height} {image.format}")
        except (OSError, ValueError, SyntaxError):
            found.append("unreadable")
    return found


def _last_user_message(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last user message that is not a carrier of tool results."""
    for message in reversed(messages):
        content = message.get("content")
        if message.get("role") != "user":
            continue
        if isinstance(content, list) and content and all(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
            continue
        return message
    return None


def _conversation_facts(messages: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """The last user text, and the tool results that end the conversation (if any)."""
    last_user = ""
    for message in messages:
        if message.get("role") == "user" and _text_of(message.get("content")):
            last_user = _text_of(message.get("content"))
    final = _last_user_message(messages)
    if final is not None and isinstance(final.get("content"), list) and describe_images(final):
        last_user = _text_of(final.get("content"))  # an image may come without words
    trailing: list[str] = []
    for message in reversed(messages):
        if message.get("role") == "tool":
            trailing.insert(0, str(message.get("content", "")))
            continue
        content = message.get("content")
        if (
            message.get("role") == "user"
            and isinstance(content, list)
            and any(b.get("type") == "tool_result" for b in content if isinstance(b, dict))
        ):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    inner = block.get("content")
                    trailing.append(inner if isinstance(inner, str) else json.dumps(inner, ensure_ascii=False))
            continue
        break
    return last_user, trailing


class FakeLLM:
    """Run with :meth:`start` (a daemon thread with its own event loop) in tests, or
    :meth:`serve_forever` from the ``fakellm`` management command."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, require_key: str | None = None) -> None:
        self.host = host
        self.port = port
        self.require_key = require_key
        self._lock = threading.Lock()
        self._queue: list[tuple[str | None, Scenario]] = []
        self._requests: list[RecordedRequest] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # --- scripting -----------------------------------------------------------------

    def script(self, *scenarios: Scenario, match: str | None = None) -> None:
        """Queue scenarios, used in order by the next requests whose last user message
        contains ``match`` (any request when None)."""
        with self._lock:
            self._queue.extend((match, s) for s in scenarios)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self._requests.clear()

    def _take(self, last_user: str) -> Scenario | None:
        with self._lock:
            for position, (match, scenario) in enumerate(self._queue):
                if match is None or match in last_user:
                    del self._queue[position]
                    return scenario
        return None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- HTTP ----------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._openai_chat)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._openai_chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/messages", self._anthropic_messages)
        app.router.add_post("/_fake/script", self._control_script)
        app.router.add_get("/_fake/requests", self._control_requests)
        app.router.add_post("/_fake/reset", self._control_reset)
        return app

    async def _read(self, request: web.Request) -> dict[str, Any]:
        body = await request.json()
        with self._lock:
            self._requests.append(RecordedRequest(request.path, dict(request.headers), body))
        return body

    def _authorized(self, request: web.Request) -> bool:
        if self.require_key is None:
            return True
        presented = (
            request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            or request.headers.get("api-key")
            or request.headers.get("x-api-key")
        )
        return presented == self.require_key

    def _choose(self, messages: list[dict[str, Any]]) -> tuple[Scenario, str]:
        last_user, tool_results = _conversation_facts(messages)
        scenario = self._take(last_user)
        if scenario is None and not tool_results:
            scenario = scenario_from_marker(last_user)
        if scenario is None:
            scenario = Scenario()
        default = f"Tool results: {' | '.join(tool_results)}" if tool_results else f"You said: {last_user}"
        seen = describe_images(_last_user_message(messages)) if not tool_results else []
        if seen:
            default = f"I see {len(seen)} image{'s' if len(seen) > 1 else ''}: {', '.join(seen)}. {default}"
        return scenario, scenario.reply_text(default)

    async def _openai_chat(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return openai_protocol.error(401, "Incorrect API key provided.")
        body = await self._read(request)
        if "deployment" in request.match_info:
            body.setdefault("model", request.match_info["deployment"])
        if (bad := _invalid_tool_name(body)) is not None:
            return openai_protocol.error(400, f"Invalid function name {bad!r}: string does not match pattern '^[a-zA-Z0-9_-]{{1,64}}$'.")
        messages = body.get("messages") or []
        scenario, text = self._choose(messages)
        if scenario.fault in ("500", "429"):
            return openai_protocol.error(int(scenario.fault), f"Scripted fault {scenario.fault}.")
        prompt_tokens = estimate_tokens(json.dumps(messages, ensure_ascii=False))
        if body.get("stream"):
            return await openai_protocol.stream(request, body, scenario, text, prompt_tokens)
        return await openai_protocol.complete(body, scenario, text, prompt_tokens)

    async def _anthropic_messages(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return anthropic_protocol.error(401, "invalid x-api-key")
        body = await self._read(request)
        if (bad := _invalid_tool_name(body)) is not None:
            return anthropic_protocol.error(400, f"tools: name {bad!r} should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
        messages = body.get("messages") or []
        scenario, text = self._choose(messages)
        if scenario.fault in ("500", "429"):
            return anthropic_protocol.error(int(scenario.fault), f"Scripted fault {scenario.fault}.")
        prompt_tokens = estimate_tokens(json.dumps([body.get("system", ""), messages], ensure_ascii=False))
        if body.get("stream"):
            return await anthropic_protocol.stream(request, body, scenario, text, prompt_tokens)
        return await anthropic_protocol.complete(body, scenario, text, prompt_tokens)

    async def _embeddings(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return openai_protocol.error(401, "Incorrect API key provided.")
        body = await self._read(request)
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = embed(str(text))
            data.append({"object": "embedding", "index": index, "embedding": encode_base64(vector) if as_base64 else vector})
        tokens = sum(estimate_tokens(str(t)) for t in texts)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "fake-embedding"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _models(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return openai_protocol.error(401, "Incorrect API key provided.")
        models = [{"id": name, "object": "model", "created": 0, "owned_by": "luxx-fake"} for name in ("fake-model", "fake-embedding")]
        return web.json_response({"object": "list", "data": models})

    async def _control_script(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            scenarios = [Scenario.from_dict(item) for item in body.get("scenarios") or []]
        except (TypeError, ValueError) as error:
            return web.json_response({"error": str(error)}, status=400)
        self.script(*scenarios, match=body.get("match"))
        return web.json_response({"queued": len(scenarios)})

    async def _control_requests(self, request: web.Request) -> web.Response:
        return web.json_response([asdict(r) for r in self.requests])

    async def _control_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"reset": True})

    # --- running -------------------------------------------------------------------

    async def _start_site(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096)
        await site.start()
        sockets = getattr(site._server, "sockets", None)
        if sockets:
            self.port = sockets[0].getsockname()[1]

    def start(self) -> FakeLLM:
        """Serve from a daemon thread; returns once listening."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as error:
                failure.append(error)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="fakellm", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._runner is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    async def _shutdown(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
        # Handlers still hanging (scripted "hang" faults) are cancelled, not left pending.
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def serve_forever(self, *, loop: str = "asyncio") -> None:
        """Serve in this thread until interrupted, on ``loop``: ``asyncio``, or ``uvloop``,
        which spends about half the CPU per streamed chunk (the stream benchmark's choice,
        so that this stand-in for a remote provider takes less of the machine it measures)."""

        async def main() -> None:
            await self._start_site()
            await asyncio.Event().wait()

        with asyncio.Runner(loop_factory=event_loop_factory(loop)) as runner:
            runner.run(main())


def event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A new-loop factory for ``asyncio`` or ``uvloop``."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if name == "asyncio":
        return asyncio.new_event_loop
    raise ValueError(f"unknown event loop {name!r}")
