"""Fake LLM provider: a real HTTP server speaking the real upstream wire formats.

One ``FakeProvider`` serves all four dialects at once, on 127.0.0.1 and an
ephemeral port, from its own event loop in a background thread::

    OpenAI / compatible  POST /v1/chat/completions, /v1/completions, /v1/embeddings
                         GET  /v1/models
    Anthropic            POST /v1/messages, /v1/messages/count_tokens
    Gemini               POST /v1beta/models/{model}:generateContent
                         POST /v1beta/models/{model}:streamGenerateContent[?alt=sse]
                         POST /v1beta/models/{model}:countTokens, GET /v1beta/models
    Ollama               POST /api/chat, /api/generate, /api/embed
                         GET  /api/tags, /api/version

Answers are deterministic: ``reply_text`` or ``"echo: <last user text>"``;
prompt tokens = ``prompt_tokens`` or the word count of the prompt; completion
tokens = ``completion_tokens`` or the word count of the reply. With ``tools`` in
the request and ``CALL_TOOL`` in the last user message, the reply is a tool call.

Use from pytest::

    @pytest.fixture
    def fake():
        with FakeProvider() as fp:
            yield fp

    client = openai.OpenAI(base_url=fake.url + "/v1", api_key="x")

Failure injection: ``fake.fail_next(2, "status_503")``, ``fake.set_failure("hang")``.

Remote control (for the CLI/benchmarks; these requests are not recorded)::

    GET  /_fake/state          counts, pending failures, settings
    POST /_fake/config         {"reply_text": ..., "latency_s": ..., ...}
    POST /_fake/fail           {"mode": "status_500", "n": 1} or {"mode": ..., "sticky": true}
    POST /_fake/reset
    GET  /_fake/requests       recorded requests (bodies as JSON when parseable)

CLI: ``uv run python -m tests.fakes.provider --port 9999``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import re
import signal
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from . import formats_anthropic as fa
from . import formats_gemini as fg
from . import formats_ollama as fo
from . import formats_openai as fopenai
from .common import Plan, PromptInfo, make_plan

FAILURE_MODES = (
    "status_500",
    "status_429",
    "status_503",
    "garbage_json",
    "cut_stream",
    "hang",
    "connection_reset",
)
_STATUS_MODE = re.compile(r"^status_(\d{3})$")

DEFAULT_MODELS = ("fake-model", "gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.0-flash", "llama3.2")

_ERROR_BODIES: dict[str, Callable[[int, str], dict[str, Any]]] = {
    "openai": fopenai.error_body,
    "anthropic": fa.error_body,
    "gemini": fg.error_body,
    "ollama": fo.error_body,
}

_SETTINGS = (
    "reply_text",
    "prompt_tokens",
    "completion_tokens",
    "latency_s",
    "chunk_delay_s",
    "stream_chunks",
    "echo_max_chars",
    "tool_arguments",
    "models",
    "embedding_dim",
    "api_keys",
    "retry_after_s",
    "cut_after_frames",
    "max_recorded",
)


@dataclass
class RecordedRequest:
    """One request as the fake received it (before any failure was applied)."""

    seq: int
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    json: Any  # parsed body, or None when empty / not JSON
    provider: str  # "openai" | "anthropic" | "gemini" | "ollama"
    stream: bool
    model: str | None
    failure: str | None  # failure mode applied to this request, if any
    received_at: float = field(default_factory=time.time)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def contains(self, value: str) -> bool:
        """True if ``value`` occurs anywhere in path, query, headers or body."""
        haystacks: Iterable[str] = (
            self.path,
            self.text,
            *self.query.keys(),
            *self.query.values(),
            *self.headers.values(),
        )
        return any(value in h for h in haystacks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "json": self.json,
            "body": None if self.json is not None else self.text,
            "provider": self.provider,
            "stream": self.stream,
            "model": self.model,
            "failure": self.failure,
            "received_at": self.received_at,
        }


@dataclass
class _JsonReply:
    status: int
    body: Any  # JSON-serialisable, or raw bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _StreamReply:
    content_type: str
    frames: list[bytes]
    headers: dict[str, str] = field(default_factory=dict)


_Reply = _JsonReply | _StreamReply
_Handler = Callable[[web.Request, Any, RecordedRequest], Awaitable[_Reply]]

_SSE = "text/event-stream; charset=utf-8"
_NDJSON = "application/x-ndjson"


def provider_for_path(path: str) -> str:
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith(("/v1beta/", "/v1alpha/")) or "enerateContent" in path:
        return "gemini"
    if path.startswith("/api/"):
        return "ollama"
    return "openai"


def _validate_mode(mode: str) -> str:
    if mode not in FAILURE_MODES and not _STATUS_MODE.match(mode):
        raise ValueError(f"unknown failure mode {mode!r}; use one of {FAILURE_MODES} or status_NNN")
    return mode


class FakeProvider:
    """A fake OpenAI/Anthropic/Gemini/Ollama server for tests and benchmarks."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reply_text: str | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        latency_s: float = 0.0,
        chunk_delay_s: float = 0.0,
        stream_chunks: int = 4,
        echo_max_chars: int = 200,
        tool_arguments: dict[str, Any] | None = None,
        models: Iterable[str] = DEFAULT_MODELS,
        embedding_dim: int = 8,
        api_keys: Iterable[str] | None = None,
        retry_after_s: float | None = None,
        cut_after_frames: int = 2,
        max_recorded: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        # Answer shaping (read on every request; safe to change while running).
        self.reply_text = reply_text
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.latency_s = latency_s
        self.chunk_delay_s = chunk_delay_s
        self.stream_chunks = stream_chunks
        self.echo_max_chars = echo_max_chars
        self.tool_arguments = tool_arguments
        self.models = list(models)
        self.embedding_dim = embedding_dim
        self.api_keys: set[str] | None = set(api_keys) if api_keys is not None else None
        self.retry_after_s = retry_after_s
        self.cut_after_frames = cut_after_frames
        self.max_recorded = max_recorded

        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._request_total = 0
        self._queue: collections.deque[str] = collections.deque()
        self._sticky: str | None = None

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._hang_release: asyncio.Event | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash, no /v1)."""
        if self._thread is None:
            raise RuntimeError("FakeProvider is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> FakeProvider:
        """Start serving on a background thread; returns self once the port is bound."""
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        started = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:
                errors.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"FakeProvider-{id(self):x}", daemon=True)
        self._thread.start()
        started.wait(30)
        if errors:
            self._thread = None
            self._loop = None
            raise RuntimeError("FakeProvider failed to start") from errors[0]
        return self

    def stop(self) -> None:
        """Stop serving; releases hanging requests. Idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)
        self._thread = None
        self._loop = None

    async def astart(self) -> FakeProvider:
        """``start()`` for asyncio code (the server still runs on its own thread)."""
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeProvider:
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        await self.astop()

    async def _serve(self) -> None:
        self._hang_release = asyncio.Event()
        runner = web.AppRunner(
            self._make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def _shutdown(self) -> None:
        if self._hang_release is not None:
            self._hang_release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ control

    def fail_next(self, n: int = 1, mode: str = "status_500") -> None:
        """Apply ``mode`` to the next ``n`` requests (queued after earlier ones)."""
        _validate_mode(mode)
        with self._lock:
            self._queue.extend([mode] * n)

    def set_failure(self, mode: str | None) -> None:
        """Apply ``mode`` to every request until ``clear_failures()`` (None clears)."""
        if mode is not None:
            _validate_mode(mode)
        with self._lock:
            self._sticky = mode

    def clear_failures(self) -> None:
        with self._lock:
            self._queue.clear()
            self._sticky = None
        self.release_hangs()

    @property
    def pending_failures(self) -> list[str]:
        with self._lock:
            return list(self._queue)

    def release_hangs(self) -> None:
        """Let requests stuck in ``hang`` finish (their connection is then closed)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def release() -> None:
            if self._hang_release is not None:
                self._hang_release.set()
            self._hang_release = asyncio.Event()

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            release()
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(release)

    def reset(self) -> None:
        """Forget recorded requests and failures; release hanging requests.

        Answer settings (reply_text, latency_s, ...) are left as they are.
        """
        with self._lock:
            self._requests.clear()
            self._request_total = 0
        self.clear_failures()

    def configure(self, **settings: Any) -> None:
        """Set several answer settings at once (same names as the constructor)."""
        for key, value in settings.items():
            if key not in _SETTINGS:
                raise TypeError(f"unknown setting {key!r}")
            if key == "api_keys" and value is not None:
                value = set(value)
            if key == "models":
                value = list(value)
            setattr(self, key, value)

    # ------------------------------------------------------------------ recordings

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of recorded requests, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        """Requests received since start/reset (also counts ones dropped by max_recorded)."""
        with self._lock:
            return self._request_total

    @property
    def last_request(self) -> RecordedRequest | None:
        with self._lock:
            return self._requests[-1] if self._requests else None

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.path.startswith(path_prefix) and (method is None or r.method == method.upper())
        ]

    def saw(self, value: str) -> bool:
        """True if any recorded request carried ``value`` (path, query, header or body)."""
        return any(r.contains(value) for r in self.requests)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``n`` requests were received; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while self.request_count < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {n} requests, got {self.request_count}")
            time.sleep(0.01)
        return self.requests

    async def await_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """``wait_for_requests`` for asyncio code."""
        deadline = time.monotonic() + timeout
        while self.request_count < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {n} requests, got {self.request_count}")
            await asyncio.sleep(0.01)
        return self.requests

    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self._request_total += 1
            rec.seq = self._request_total
            self._requests.append(rec)
            if self.max_recorded is not None and len(self._requests) > self.max_recorded:
                del self._requests[: len(self._requests) - self.max_recorded]

    def _take_failure(self) -> str | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            return self._sticky

    # ------------------------------------------------------------------ app

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        r = app.router
        r.add_get("/_fake/state", self._ctl_state)
        r.add_get("/_fake/requests", self._ctl_requests)
        r.add_post("/_fake/config", self._ctl_config)
        r.add_post("/_fake/fail", self._ctl_fail)
        r.add_post("/_fake/reset", self._ctl_reset)

        def add(method: str, path: str, provider: str, handler: _Handler) -> None:
            r.add_route(method, path, self._wrap(provider, handler))

        add("POST", "/v1/chat/completions", "openai", self._openai_chat)
        add("POST", "/v1/completions", "openai", self._openai_completions)
        add("POST", "/v1/embeddings", "openai", self._openai_embeddings)
        add("GET", "/v1/models", "openai", self._openai_models)
        add("POST", "/v1/messages", "anthropic", self._anthropic_messages)
        add("POST", "/v1/messages/count_tokens", "anthropic", self._anthropic_count)
        for version in ("v1beta", "v1"):
            add("POST", f"/{version}/models/{{target}}", "gemini", self._gemini)
        add("GET", "/v1beta/models", "gemini", self._gemini_models)
        add("POST", "/api/chat", "ollama", self._ollama_chat)
        add("POST", "/api/generate", "ollama", self._ollama_generate)
        add("POST", "/api/embed", "ollama", self._ollama_embed)
        add("GET", "/api/tags", "ollama", self._ollama_tags)
        add("GET", "/api/version", "ollama", self._ollama_version)
        r.add_route("*", "/{tail:.*}", self._wrap(None, self._not_found))
        return app

    def _wrap(
        self, provider: str | None, handler: _Handler
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            prov = provider or provider_for_path(request.path)
            raw = await request.read()
            body: Any = None
            bad_json = False
            if raw:
                try:
                    body = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    bad_json = True
            stream = _is_stream(prov, request, body)
            model = _model_of(prov, request, body)
            failure = self._take_failure()
            rec = RecordedRequest(
                seq=0,
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=raw,
                json=body,
                provider=prov,
                stream=stream,
                model=model,
                failure=failure,
            )
            self._record(rec)

            if failure == "hang":
                return await self._hang(request)
            if failure == "connection_reset":
                return _reset_connection(request)
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            if failure == "cut_stream" and isinstance(body, dict):
                # The normal answer for this request, cut short by _send.
                reply = self._check_auth(prov, request) or await handler(request, body, rec)
                return await self._send(request, reply, cut=True)
            if failure is not None:
                reply = self._failure_reply(prov, failure, stream, request)
                return await self._send(request, reply, cut=failure == "cut_stream")
            if bad_json:
                reply = self._error(prov, 400, "request body is not valid JSON")
            elif request.method == "POST" and not isinstance(body, dict) and provider:
                reply = self._error(prov, 400, "request body must be a JSON object")
            else:
                reply = self._check_auth(prov, request) or await handler(request, body, rec)
            return await self._send(request, reply)

        return endpoint

    # ------------------------------------------------------------------ sending

    async def _send(
        self, request: web.Request, reply: _Reply, cut: bool = False
    ) -> web.StreamResponse:
        if isinstance(reply, _JsonReply):
            data = reply.body if isinstance(reply.body, bytes) else orjson.dumps(reply.body)
            headers = {"Content-Type": "application/json", **reply.headers}
            if not cut:
                return web.Response(status=reply.status, body=data, headers=headers)
            # Non-streaming cut: promise the full length, send half, drop the line.
            resp = web.StreamResponse(status=reply.status, headers=headers)
            resp.content_length = len(data)
            await resp.prepare(request)
            await resp.write(data[: max(1, len(data) // 2)])
            return _abort(request, resp)

        resp = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": reply.content_type,
                "Cache-Control": "no-cache",
                **reply.headers,
            },
        )
        await resp.prepare(request)
        frames = reply.frames
        if cut:
            frames = frames[: max(1, min(self.cut_after_frames, len(frames) - 1))]
        for i, frame in enumerate(frames):
            if i and self.chunk_delay_s:
                await asyncio.sleep(self.chunk_delay_s)
            await resp.write(frame)
        if cut:
            return _abort(request, resp)
        await resp.write_eof()
        return resp

    async def _hang(self, request: web.Request) -> web.StreamResponse:
        """Never answer; ends when released (reset/stop) or when the client goes away."""
        event = self._hang_release
        while event is not None and not event.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), 0.05)
        return _reset_connection(request)

    def _error(
        self, provider: str, status: int, message: str, headers: dict[str, str] | None = None
    ) -> _JsonReply:
        return _JsonReply(status, _ERROR_BODIES[provider](status, message), headers or {})

    def _failure_reply(
        self, provider: str, mode: str, stream: bool, request: web.Request
    ) -> _Reply:
        match = _STATUS_MODE.match(mode)
        if match:
            status = int(match.group(1))
            headers = {}
            if status == 429 and self.retry_after_s is not None:
                headers["Retry-After"] = f"{self.retry_after_s:g}"
            return self._error(provider, status, f"fake injected failure: {mode}", headers)
        if mode == "garbage_json":
            return _garbage(provider, stream, request)
        # cut_stream on a request without a JSON body: cut an error body short.
        return self._error(provider, 500, "fake injected failure: " + mode)

    def _check_auth(self, provider: str, request: web.Request) -> _JsonReply | None:
        keys = self.api_keys
        h = request.headers
        if provider == "openai":
            if keys is None:
                return None
            auth = h.get("Authorization", "")
            token = auth[7:] if auth.lower().startswith("bearer ") else ""
            if token not in keys:
                return self._error(provider, 401, "Incorrect API key provided.")
        elif provider == "anthropic":
            # x-api-key is the documented header; anthropic SDK >= 2.x sends
            # ``Authorization: Bearer <key>`` instead, which the API also accepts.
            auth = h.get("Authorization", "")
            key = h.get("x-api-key") or (auth[7:] if auth.lower().startswith("bearer ") else "")
            if not key:
                return self._error(provider, 401, "x-api-key header is required")
            if keys is not None and key not in keys:
                return self._error(provider, 401, "invalid x-api-key")
            if not h.get("anthropic-version"):
                return self._error(provider, 400, "anthropic-version: header is required")
        elif provider == "gemini":
            key = h.get("x-goog-api-key") or request.query.get("key")
            if not key:
                return self._error(
                    provider,
                    403,
                    "Method doesn't allow unregistered callers (callers without established "
                    "identity). Please use API Key or other form of API consumer identity.",
                )
            if keys is not None and key not in keys:
                return self._error(provider, 400, "API key not valid. Please pass a valid API key.")
        return None

    def _plan(self, info: PromptInfo, id_prefix: str = "call_") -> Plan:
        return make_plan(self, info, id_prefix)

    # ------------------------------------------------------------------ OpenAI

    async def _openai_chat(self, request: web.Request, body: Any, rec: RecordedRequest) -> _Reply:
        if err := fopenai.validate_chat(body):
            return self._error("openai", 400, err)
        plan = self._plan(fopenai.chat_info(body))
        headers = {"x-request-id": f"req_fake{plan.seq:06d}"}
        if body.get("stream"):
            frames = fopenai.chat_stream(plan, fopenai.wants_usage_chunk(body))
            return _StreamReply(_SSE, frames, headers)
        return _JsonReply(200, fopenai.chat_completion(plan), headers)

    async def _openai_completions(
        self, request: web.Request, body: Any, rec: RecordedRequest
    ) -> _Reply:
        if err := fopenai.validate_completion(body):
            return self._error("openai", 400, err)
        plan = self._plan(fopenai.completion_info(body))
        if body.get("stream"):
            frames = fopenai.text_completion_stream(plan, fopenai.wants_usage_chunk(body))
            return _StreamReply(_SSE, frames)
        return _JsonReply(200, fopenai.text_completion(plan))

    async def _openai_embeddings(
        self, request: web.Request, body: Any, rec: RecordedRequest
    ) -> _Reply:
        status, out = fopenai.embeddings(body, self.embedding_dim, self.prompt_tokens)
        return _JsonReply(status, out)

    async def _openai_models(self, request: web.Request, body: Any, rec: RecordedRequest) -> _Reply:
        return _JsonReply(200, fopenai.models(self.models, 1_700_000_000))

    # ------------------------------------------------------------------ Anthropic

    async def _anthropic_messages(
        self, request: web.Request, body: Any, rec: RecordedRequest
    ) -> _Reply:
        if err := fa.validate(body):
            return self._error("anthropic", 400, err)
        plan = self._plan(fa.info(body), id_prefix="toolu_")
        headers = {"request-id": f"req_fake{plan.seq:06d}"}
        if body.get("stream"):
            return _StreamReply(_SSE, fa.stream(plan), headers)
        return _JsonReply(200, fa.message(plan), headers)

    async def _anthropic_count(
        self, request: web.Request, body: Any, rec: RecordedRequest
    ) -> _Reply:
        if not body.get("model") or not isinstance(body.get("messages"), list):
            return self._error("anthropic", 400, "model and messages are required")
        return _JsonReply(200, fa.count_tokens(self._plan(fa.info(body))))

    # ------------------------------------------------------------------ Gemini

    async def _gemini(self, request: web.Request, body: Any, rec: RecordedRequest) -> _Reply:
        model, _, action = request.match_info["target"].partition(":")
        if action not in ("generateContent", "streamGenerateContent", "countTokens"):
            return self._error("gemini", 404, f"unknown method {action!r}")
        if err := fg.validate(body):
            return self._error("gemini", 400, err)
        plan = self._plan(fg.info(model, body))
        if action == "countTokens":
            return _JsonReply(200, fg.count_tokens(plan))
        if action == "generateContent":
            return _JsonReply(200, fg.generate_content(plan))
        if request.query.get("alt") == "sse":
            return _StreamReply(_SSE, fg.stream_sse(plan))
        return _StreamReply("application/json; charset=UTF-8", fg.stream_json_array(plan))

    async def _gemini_models(self, request: web.Request, body: Any, rec: RecordedRequest) -> _Reply:
        return _JsonReply(200, fg.models(self.models))

    # ------------------------------------------------------------------ Ollama

    async def _ollama_chat(self, request: web.Request, body: Any, rec: RecordedRequest) -> _Reply:
        if err := fo.validate_chat(body):
            return self._error("ollama", 400, err)
        plan = self._plan(fo.chat_info(body))
        if body.get("stream", True):
            return _StreamReply(_NDJSON, fo.chat_stream(plan))
        return _JsonReply(200, fo.chat(plan))

    async def _ollama_generate(
        self, request: web.Request, body: Any, rec: RecordedRequest
    ) -> _Reply:
        if err := fo.validate_generate(body):
            return self._error("ollama", 400, err)
        plan = self._plan(fo.generate_info(body))
        if body.get("stream", True):
            return _StreamReply(_NDJSON, fo.generate_stream(plan))
        return _JsonReply(200, fo.generate(plan))

    async def _ollama_embed(self, request: web.Request, body: Any, rec: RecordedRequest) -> _Reply:
        status, out = fo.embed(body, self.embedding_dim, self.prompt_tokens)
        return _JsonReply(status, out)

    async def _ollama_tags(self, request: web.Request, body: Any, rec: RecordedRequest) -> _Reply:
        return _JsonReply(200, fo.tags(self.models))

    async def _ollama_version(
        self, request: web.Request, body: Any, rec: RecordedRequest
    ) -> _Reply:
        return _JsonReply(200, {"version": "0.0.0-fake"})

    async def _not_found(self, request: web.Request, body: Any, rec: RecordedRequest) -> _Reply:
        return self._error(rec.provider, 404, f"no route for {request.method} {request.path}")

    # ------------------------------------------------------------------ remote control

    async def _ctl_state(self, request: web.Request) -> web.Response:
        state = {
            "request_count": self.request_count,
            "recorded": len(self.requests),
            "pending_failures": self.pending_failures,
            "sticky_failure": self._sticky,
            "settings": {k: _jsonable(getattr(self, k)) for k in _SETTINGS},
        }
        return web.Response(body=orjson.dumps(state), content_type="application/json")

    async def _ctl_requests(self, request: web.Request) -> web.Response:
        data = [r.to_dict() for r in self.requests]
        return web.Response(body=orjson.dumps(data), content_type="application/json")

    async def _ctl_config(self, request: web.Request) -> web.Response:
        try:
            self.configure(**(await request.json()))
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return await self._ctl_state(request)

    async def _ctl_fail(self, request: web.Request) -> web.Response:
        data = await request.json()
        try:
            if data.get("sticky"):
                self.set_failure(data.get("mode"))
            else:
                self.fail_next(int(data.get("n", 1)), str(data["mode"]))
        except (KeyError, TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return await self._ctl_state(request)

    async def _ctl_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return await self._ctl_state(request)


# ---------------------------------------------------------------------- helpers


def _jsonable(value: Any) -> Any:
    return sorted(value) if isinstance(value, set) else value


def _is_stream(provider: str, request: web.Request, body: Any) -> bool:
    if provider == "gemini":
        return request.path.endswith(":streamGenerateContent")
    if not isinstance(body, dict):
        return False
    if provider == "ollama":
        return request.path in ("/api/chat", "/api/generate") and bool(body.get("stream", True))
    return bool(body.get("stream"))


def _model_of(provider: str, request: web.Request, body: Any) -> str | None:
    if provider == "gemini" and "target" in request.match_info:
        return request.match_info["target"].partition(":")[0]
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        return body["model"]
    return None


def _garbage(provider: str, stream: bool, request: web.Request) -> _Reply:
    broken = b'{"id": "garbage", "choices": [ this is {not json'
    if not stream:
        return _JsonReply(200, broken)
    if provider == "ollama":
        return _StreamReply(_NDJSON, [broken + b"\n"])
    if provider == "gemini" and request.query.get("alt") != "sse":
        return _StreamReply("application/json; charset=UTF-8", [b"[" + broken, b"]"])
    head = b"event: message_start\n" if provider == "anthropic" else b""
    return _StreamReply(_SSE, [head + b"data: " + broken + b"\n\n"])


def _abort(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    """Drop the connection mid-response (no chunked terminator, no FIN handshake)."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return resp


def _reset_connection(request: web.Request) -> web.StreamResponse:
    """Close the socket with SO_LINGER=0 so the peer sees a TCP RST."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    # Nothing reaches the client; aiohttp notices the closed transport and stops.
    return web.Response(status=499)


# ---------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.provider",
        description="Fake OpenAI/Anthropic/Gemini/Ollama server for manual tests and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9999)
    parser.add_argument("--reply-text")
    parser.add_argument("--prompt-tokens", type=int)
    parser.add_argument("--completion-tokens", type=int)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before first byte")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between frames")
    parser.add_argument("--stream-chunks", type=int, default=4)
    parser.add_argument("--fail", help="sticky failure mode, e.g. status_503")
    parser.add_argument(
        "--max-recorded",
        type=int,
        default=1000,
        help="keep only the last N requests in memory (default 1000)",
    )
    args = parser.parse_args(argv)

    fake = FakeProvider(
        host=args.host,
        port=args.port,
        reply_text=args.reply_text,
        prompt_tokens=args.prompt_tokens,
        completion_tokens=args.completion_tokens,
        latency_s=args.latency,
        chunk_delay_s=args.chunk_delay,
        stream_chunks=args.stream_chunks,
        max_recorded=args.max_recorded,
    )
    if args.fail:
        fake.set_failure(args.fail)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    fake.start()
    print(f"fake provider listening on {fake.url}", flush=True)
    print(f"  OpenAI base_url:    {fake.url}/v1", flush=True)
    print(f"  Anthropic base_url: {fake.url}", flush=True)
    print(f"  Gemini base_url:    {fake.url}", flush=True)
    print(f"  Ollama host:        {fake.url}", flush=True)
    print(f"  control:            {fake.url}/_fake/state", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
