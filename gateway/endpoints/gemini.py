"""Gemini's API: POST /v1beta/models/{model}:generateContent and :streamGenerateContent
(also under /v1/models/, which newer google-genai releases call).

The model comes from the path; `?alt=sse` asks for SSE, otherwise the stream is a
JSON array (as Gemini does it). The key comes in `x-goog-api-key`, `?key=`,
`x-api-key` or `Authorization: Bearer`. Errors take Google's shape
(`{"error": {"code", "message", "status", "details"}}`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from gateway.body import Receive, parse_object
from gateway.context import RequestContext
from gateway.endpoints.inference import InferenceEndpoint
from gateway.errors import Denial, invalid_request
from gateway.estimate import chat_prompt_tokens, max_output_tokens
from gateway.pipeline import Pipeline
from gateway.responses import Send
from gateway.specs import MAX_MODEL_NAME, EndpointSpec, ParsedRequest
from gateway.translate.clients import GEMINI, send_client_denial
from gateway.translate.gemini_request import to_openai

PREFIXES = ("/v1beta/models/", "/v1/models/")
GENERATE, STREAM = "generateContent", "streamGenerateContent"


def _validate(body: dict[str, Any]) -> None:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise invalid_request("* GenerateContentRequest.contents: contents is not specified")
    for index, content in enumerate(contents):
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            raise invalid_request(f"* contents[{index}]: an object with a 'parts' array.")
        if not all(isinstance(part, dict) for part in content["parts"]):
            raise invalid_request(f"* contents[{index}].parts: every part must be an object.")


def _spec(action: str, *, sse: bool = True) -> EndpointSpec:
    return EndpointSpec(
        name=f"gemini.{action}",
        path=f"/v1beta/models/{{model}}:{action}",
        upstream_path=f":{action}",
        kind="chat",
        validate=_validate,
        prompt_tokens=lambda body: 0,  # estimated on the request read as chat, below
        has_output=True,
        client_format=GEMINI,
        sse=sse,
    )


def model_and_action(path: str) -> tuple[str, str] | None:
    for prefix in PREFIXES:
        if path.startswith(prefix):
            model, sep, action = path[len(prefix) :].rpartition(":")
            return (model.removeprefix("models/"), action) if sep and model else None
    return None


class GeminiEndpoint(InferenceEndpoint):
    def parse(self, scope: dict[str, Any], raw: bytes) -> ParsedRequest:
        found = model_and_action(scope["path"])
        assert found is not None  # GeminiRoutes only sends matching paths
        model = found[0]
        if len(model) > MAX_MODEL_NAME:
            raise invalid_request(f"The model name is longer than {MAX_MODEL_NAME} characters.")
        body = parse_object(raw)
        self.spec.validate(body)
        stream = found[1] == STREAM
        canonical = to_openai(body, model=model, stream=stream)
        if not canonical["messages"]:
            canonical["messages"] = [{"role": "user", "content": ""}]
        default = self.p.runtime.config.default_max_tokens
        return ParsedRequest(
            raw=raw,
            body=body,
            model=model,
            stream=stream,
            client_wants_usage=False,
            prompt_tokens=chat_prompt_tokens(canonical),
            max_output_tokens=max_output_tokens(canonical, default),
        )


class GeminiRoutes:
    """Dispatches the Gemini paths to the endpoint of their action."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.p = pipeline
        self.endpoints = {
            (GENERATE, True): GeminiEndpoint(_spec(GENERATE), pipeline),
            (STREAM, True): GeminiEndpoint(_spec(STREAM), pipeline),
            (STREAM, False): GeminiEndpoint(_spec(STREAM, sse=False), pipeline),
        }

    @staticmethod
    def matches(path: str) -> bool:
        return model_and_action(path) is not None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        found = model_and_action(scope["path"])
        action = found[1] if found else ""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        sse = action == GENERATE or query.get("alt", [""])[0] == "sse"
        endpoint = self.endpoints.get((action, sse))
        if endpoint is not None and scope["method"] == "POST":
            await endpoint(scope, receive, send)
            return
        await self._refuse(scope, send, action)

    async def _refuse(self, scope: dict[str, Any], send: Send, action: str) -> None:
        ctx = RequestContext.begin(scope, "gemini")
        if action in (GENERATE, STREAM):
            denial = Denial("method_not_allowed", f"{scope['method']} is not allowed here.")
        else:
            denial = Denial("not_found", f"The method {action!r} is not supported by Candela.")
        ctx.refuse(denial)
        await send_client_denial(send, GEMINI, denial, ctx.request_id)
        ctx.finish()
        self.p.runtime.recorder.record(ctx)
