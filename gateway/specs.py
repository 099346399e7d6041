"""The OpenAI-format endpoints: their validation and what a request asks for.

Validation is shallow and strict about types the gateway itself relies on
(model, messages, stream, token limits); everything else is the provider's
business and passes through untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway import estimate
from gateway.errors import invalid_request

MAX_MODEL_NAME = 200


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    raw: bytes  # the body as received, forwarded as is when nothing needs changing
    body: dict[str, Any]
    model: str
    stream: bool
    client_wants_usage: bool  # stream_options.include_usage as the client sent it
    prompt_tokens: int  # estimated (see gateway.estimate)
    max_output_tokens: int  # worst case


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    name: str  # for the audit trail: "chat.completions"
    path: str  # "/v1/chat/completions"
    upstream_path: str  # appended to the provider's base_url: "/chat/completions"
    kind: str  # "chat" | "completion" | "embedding"
    validate: Callable[[dict[str, Any]], None]
    prompt_tokens: Callable[[dict[str, Any]], int]
    has_output: bool
    # How gateway.pii reads and restores this endpoint's bodies: openai|anthropic|gemini.
    client_format: str = "openai"
    # Gemini streams come as SSE when the client asks (`?alt=sse`), else a JSON array.
    sse: bool = True

    def parse(self, raw: bytes, body: dict[str, Any], default_max_tokens: int) -> ParsedRequest:
        _check_common(body)
        self.validate(body)
        stream = bool(body.get("stream"))
        options = body.get("stream_options")
        return ParsedRequest(
            raw=raw,
            body=body,
            model=body["model"],
            stream=stream,
            client_wants_usage=bool(options and options.get("include_usage")),
            prompt_tokens=self.prompt_tokens(body),
            max_output_tokens=(
                estimate.max_output_tokens(body, default_max_tokens) if self.has_output else 0
            ),
        )


# Bounds keep the worst-case reservation a sane number (counters are exact to $9M).
LIMITS = {"max_tokens": 10_000_000, "max_completion_tokens": 10_000_000, "n": 128, "best_of": 128}


def _positive_int(body: dict[str, Any], name: str) -> None:
    value = body.get(name)
    if value is not None and (type(value) is not int or not 1 <= value <= LIMITS[name]):
        raise invalid_request(f"'{name}' must be an integer from 1 to {LIMITS[name]}.")


def _check_common(body: dict[str, Any]) -> None:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid_request("'model' is required and must be a non-empty string.")
    if len(model) > MAX_MODEL_NAME:
        raise invalid_request(f"'model' is longer than {MAX_MODEL_NAME} characters.")
    if "stream" in body and body["stream"] is not None and not isinstance(body["stream"], bool):
        raise invalid_request("'stream' must be a boolean.")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise invalid_request("'stream_options' must be an object.")
    for name in LIMITS:
        _positive_int(body, name)


def _validate_chat(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_request("'messages' is required and must be a non-empty array.")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise invalid_request(f"'messages[{index}]' must be an object with a 'role'.")
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise invalid_request(f"'messages[{index}].content' must be a string or an array.")
        if isinstance(content, list) and not all(isinstance(p, dict) for p in content):
            raise invalid_request(f"'messages[{index}].content' parts must be objects.")


def _is_input(value: Any) -> bool:
    """A string, or a non-empty array of strings, token ids or arrays of token ids."""
    if isinstance(value, str):
        return True
    if not isinstance(value, list) or not value:
        return False
    return all(
        isinstance(item, str)
        or (type(item) is int)
        or (isinstance(item, list) and all(type(t) is int for t in item))
        for item in value
    )


def _validate_completion(body: dict[str, Any]) -> None:
    if not _is_input(body.get("prompt")):
        raise invalid_request("'prompt' is required: a string, an array of strings or token ids.")


def _validate_embedding(body: dict[str, Any]) -> None:
    if not _is_input(body.get("input")) or body.get("input") == "":
        raise invalid_request("'input' is required: a string, an array of strings or token ids.")
    if body.get("stream"):
        raise invalid_request("Embeddings cannot be streamed.")


CHAT = EndpointSpec(
    name="chat.completions",
    path="/v1/chat/completions",
    upstream_path="/chat/completions",
    kind="chat",
    validate=_validate_chat,
    prompt_tokens=estimate.chat_prompt_tokens,
    has_output=True,
)
COMPLETIONS = EndpointSpec(
    name="completions",
    path="/v1/completions",
    upstream_path="/completions",
    kind="completion",
    validate=_validate_completion,
    prompt_tokens=estimate.completion_prompt_tokens,
    has_output=True,
)
EMBEDDINGS = EndpointSpec(
    name="embeddings",
    path="/v1/embeddings",
    upstream_path="/embeddings",
    kind="embedding",
    validate=_validate_embedding,
    prompt_tokens=estimate.embedding_prompt_tokens,
    has_output=False,
)
