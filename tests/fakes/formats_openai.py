"""OpenAI (and OpenAI-compatible: LM Studio, vLLM, Ollama /v1) wire format."""

from __future__ import annotations

import base64
import struct
from typing import Any

from .common import Plan, PromptInfo, ToolSpec, embedding_vector, sse, text_of

DONE = b"data: [DONE]\n\n"

_ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    503: ("server_error", "service_unavailable"),
}


def error_body(status: int, message: str) -> dict[str, Any]:
    etype, code = _ERROR_TYPES.get(status, ("server_error", f"http_{status}"))
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


def validate_chat(body: dict[str, Any]) -> str | None:
    if not body.get("model"):
        return "you must provide a model parameter"
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "'messages' must be a non-empty array"
    return None


def validate_completion(body: dict[str, Any]) -> str | None:
    if not body.get("model"):
        return "you must provide a model parameter"
    if "prompt" not in body:
        return "'prompt' is a required property"
    return None


def chat_info(body: dict[str, Any]) -> PromptInfo:
    messages = body.get("messages") or []
    texts = [text_of(m.get("content")) for m in messages if isinstance(m, dict)]
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    last_user = ""
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            last_user = text_of(m.get("content"))
            break
    tools = []
    for t in body.get("tools") or []:
        fn = t.get("function") if isinstance(t, dict) else None
        if isinstance(fn, dict) and fn.get("name"):
            tools.append(ToolSpec(fn["name"], fn.get("parameters") or {}))
    return PromptInfo(
        model=str(body.get("model") or "fake-model"),
        prompt_text=" ".join(t for t in texts if t),
        last_user_text=last_user,
        tools=tools,
        last_is_user=last.get("role") == "user",
    )


def completion_info(body: dict[str, Any]) -> PromptInfo:
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(p for p in prompt if isinstance(p, str))
    prompt = prompt if isinstance(prompt, str) else ""
    return PromptInfo(
        model=str(body.get("model") or "fake-model"), prompt_text=prompt, last_user_text=prompt
    )


def wants_usage_chunk(body: dict[str, Any]) -> bool:
    opts = body.get("stream_options")
    return isinstance(opts, dict) and bool(opts.get("include_usage"))


def _usage(plan: Plan) -> dict[str, int]:
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": plan.completion_tokens,
        "total_tokens": plan.total_tokens,
    }


def _finish(plan: Plan) -> str:
    return "tool_calls" if plan.tool_call else "stop"


def chat_completion(plan: Plan) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": plan.text, "refusal": None}
    if plan.tool_call:
        tc = plan.tool_call
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": tc.id,
                "type": "function",
                "function": {"name": tc.name, "arguments": tc.arguments_json},
            }
        ]
    return {
        "id": f"chatcmpl-fake{plan.seq:06d}",
        "object": "chat.completion",
        "created": plan.created,
        "model": plan.model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(plan)}
        ],
        "usage": _usage(plan),
        "system_fingerprint": "fp_fake",
    }


def chat_stream(plan: Plan, include_usage: bool) -> list[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj: dict[str, Any] = {
            "id": f"chatcmpl-fake{plan.seq:06d}",
            "object": "chat.completion.chunk",
            "created": plan.created,
            "model": plan.model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            obj["usage"] = None
        return sse(obj)

    frames = []
    if plan.tool_call:
        tc = plan.tool_call
        frames.append(
            chunk(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": tc.id,
                            "type": "function",
                            "function": {"name": tc.name, "arguments": ""},
                        }
                    ],
                }
            )
        )
        frames.extend(
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            for piece in plan.chunks
        )
    else:
        frames.append(chunk({"role": "assistant", "content": "", "refusal": None}))
        frames.extend(chunk({"content": piece}) for piece in plan.chunks if piece)
    frames.append(chunk({}, _finish(plan)))
    if include_usage:
        frames.append(
            sse(
                {
                    "id": f"chatcmpl-fake{plan.seq:06d}",
                    "object": "chat.completion.chunk",
                    "created": plan.created,
                    "model": plan.model,
                    "system_fingerprint": "fp_fake",
                    "choices": [],
                    "usage": _usage(plan),
                }
            )
        )
    frames.append(DONE)
    return frames


def text_completion(plan: Plan) -> dict[str, Any]:
    return {
        "id": f"cmpl-fake{plan.seq:06d}",
        "object": "text_completion",
        "created": plan.created,
        "model": plan.model,
        "choices": [{"text": plan.text, "index": 0, "logprobs": None, "finish_reason": "stop"}],
        "usage": _usage(plan),
    }


def text_completion_stream(plan: Plan, include_usage: bool) -> list[bytes]:
    def chunk(text: str, finish: str | None = None) -> bytes:
        obj: dict[str, Any] = {
            "id": f"cmpl-fake{plan.seq:06d}",
            "object": "text_completion",
            "created": plan.created,
            "model": plan.model,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            obj["usage"] = None
        return sse(obj)

    frames = [chunk(piece) for piece in plan.chunks if piece]
    frames.append(chunk("", "stop"))
    if include_usage:
        frames.append(
            sse(
                {
                    "id": f"cmpl-fake{plan.seq:06d}",
                    "object": "text_completion",
                    "created": plan.created,
                    "model": plan.model,
                    "choices": [],
                    "usage": _usage(plan),
                }
            )
        )
    frames.append(DONE)
    return frames


def embeddings(
    body: dict[str, Any], default_dim: int, prompt_tokens: int | None = None
) -> tuple[int, dict[str, Any]]:
    """Returns ``(status, body)``; ``prompt_tokens`` overrides the word count."""
    raw = body.get("input")
    if raw is None or raw == "" or raw == []:
        return 400, error_body(400, "'input' is a required property")
    if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)):
        inputs = [raw]
    else:
        inputs = list(raw)
    dim = int(body.get("dimensions") or default_dim)
    as_b64 = body.get("encoding_format") == "base64"
    data = []
    tokens = 0
    for i, item in enumerate(inputs):
        text = item if isinstance(item, str) else " ".join(str(x) for x in item)
        tokens += len(item) if isinstance(item, list) else max(1, len(text.split()))
        vec = embedding_vector(text, dim)
        emb: Any = base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode() if as_b64 else vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    if prompt_tokens is not None:
        tokens = prompt_tokens
    return 200, {
        "object": "list",
        "data": data,
        "model": str(body.get("model") or "fake-embedding"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def models(model_ids: list[str], created: int) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": created, "owned_by": "candela-fake"}
            for m in model_ids
        ],
    }
