"""The client formats (openai, anthropic, gemini): requests in, answers and errors out.

An endpoint's `EndpointSpec.client_format` names its format. Adapters call these
to read any client's request in the canonical (OpenAI chat) form and to write
canonical answers, streams and errors back in the client's own shape.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from gateway.errors import Denial
from gateway.responses import JSON_TYPE, Send, error_body, request_id_header, send_bytes
from gateway.specs import EndpointSpec, ParsedRequest
from gateway.translate import anthropic_reply, anthropic_request, gemini_reply, gemini_request
from gateway.translate.anthropic_stream import AnthropicEncoder
from gateway.translate.anthropic_stream import error_object as anthropic_error
from gateway.translate.gemini_stream import GeminiEncoder
from gateway.translate.gemini_stream import error_object as gemini_error
from gateway.translate.openai_stream import OpenAIEncoder

OPENAI, ANTHROPIC, GEMINI = "openai", "anthropic", "gemini"


class ChunkEncoder(Protocol):
    """Canonical chunks → the client's stream bytes."""

    def encode(self, chunk: dict[str, Any]) -> bytes: ...

    def end(self) -> bytes:
        """The client's end of stream, after the provider's stream completed."""
        ...

    def error_event(self, *, code: str, message: str, request_id: str) -> bytes: ...


def canonical_request(spec: EndpointSpec, request: ParsedRequest) -> dict[str, Any]:
    """The request as an OpenAI body (chat, or the OpenAI endpoint's own)."""
    if spec.client_format == ANTHROPIC:
        return anthropic_request.to_openai(request.body)
    if spec.client_format == GEMINI:
        return gemini_request.to_openai(request.body, model=request.model, stream=request.stream)
    return request.body


def encode_reply(spec: EndpointSpec, canonical: dict[str, Any], model: str) -> bytes:
    """A canonical whole answer in the client's format."""
    if spec.client_format == ANTHROPIC:
        return orjson.dumps(anthropic_reply.from_openai(canonical, model=model))
    if spec.client_format == GEMINI:
        return orjson.dumps(gemini_reply.from_openai(canonical, model=model))
    return orjson.dumps(canonical)


def stream_encoder(spec: EndpointSpec, request: ParsedRequest) -> ChunkEncoder:
    if spec.client_format == ANTHROPIC:
        return AnthropicEncoder(request.model)
    if spec.client_format == GEMINI:
        return GeminiEncoder(request.model, sse=spec.sse)
    return OpenAIEncoder(wants_usage=request.client_wants_usage)


def client_error_body(
    client_format: str, *, status: int, code: str, message: str, request_id: str
) -> bytes:
    if client_format == ANTHROPIC:
        obj = anthropic_error(status=status, code=code, message=message, request_id=request_id)
        return orjson.dumps(obj)
    if client_format == GEMINI:
        obj = gemini_error(status=status, code=code, message=message, request_id=request_id)
        return orjson.dumps(obj)
    return error_body(status=status, code=code, message=message, request_id=request_id)


async def send_client_denial(
    send: Send, client_format: str, denial: Denial, request_id: str
) -> None:
    """A refusal in the client's error shape (OpenAI's, Anthropic's or Google's)."""
    body = client_error_body(
        client_format,
        status=denial.status,
        code=denial.code,
        message=denial.message,
        request_id=request_id,
    )
    headers = [JSON_TYPE, request_id_header(request_id), *denial.headers]
    await send_bytes(send, denial.status, body, headers)
