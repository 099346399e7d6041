"""Ollama native API wire format (/api/chat, /api/generate, /api/tags, /api/embed)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from .common import Plan, PromptInfo, ToolSpec, embedding_vector, ndjson, text_of

_DURATION_NS = 1_000_000  # fixed fake durations, deterministic


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": message}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def validate_chat(body: dict[str, Any]) -> str | None:
    if not body.get("model"):
        return "model is required"
    if not isinstance(body.get("messages"), list):
        return "messages is required"
    return None


def validate_generate(body: dict[str, Any]) -> str | None:
    return None if body.get("model") else "model is required"


def chat_info(body: dict[str, Any]) -> PromptInfo:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    texts = [text_of(m.get("content")) for m in messages]
    last = messages[-1] if messages else {}
    last_user = next(
        (text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    tools = []
    for t in body.get("tools") or []:
        fn = t.get("function") if isinstance(t, dict) else None
        if isinstance(fn, dict) and fn.get("name"):
            tools.append(ToolSpec(fn["name"], fn.get("parameters") or {}))
    return PromptInfo(
        model=str(body.get("model")),
        prompt_text=" ".join(t for t in texts if t),
        last_user_text=last_user,
        tools=tools,
        last_is_user=last.get("role") == "user",
    )


def generate_info(body: dict[str, Any]) -> PromptInfo:
    prompt = str(body.get("prompt") or "")
    system = str(body.get("system") or "")
    return PromptInfo(
        model=str(body.get("model")),
        prompt_text=f"{system} {prompt}".strip(),
        last_user_text=prompt,
    )


def _stats(plan: Plan) -> dict[str, Any]:
    return {
        "done_reason": "stop",
        "done": True,
        "total_duration": 3 * _DURATION_NS,
        "load_duration": _DURATION_NS,
        "prompt_eval_count": plan.prompt_tokens,
        "prompt_eval_duration": _DURATION_NS,
        "eval_count": plan.completion_tokens,
        "eval_duration": _DURATION_NS,
    }


def _assistant(content: str, plan: Plan | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if plan is not None and plan.tool_call:
        tc = plan.tool_call
        msg["tool_calls"] = [{"function": {"name": tc.name, "arguments": tc.arguments}}]
    return msg


def chat(plan: Plan) -> dict[str, Any]:
    return {
        "model": plan.model,
        "created_at": _now(),
        "message": _assistant(plan.text, plan),
        **_stats(plan),
    }


def chat_stream(plan: Plan) -> list[bytes]:
    if plan.tool_call:
        frames = [
            ndjson(
                {
                    "model": plan.model,
                    "created_at": _now(),
                    "message": _assistant("", plan),
                    "done": False,
                }
            )
        ]
    else:
        frames = [
            ndjson(
                {
                    "model": plan.model,
                    "created_at": _now(),
                    "message": _assistant(piece),
                    "done": False,
                }
            )
            for piece in plan.chunks
            if piece
        ]
    frames.append(
        ndjson(
            {"model": plan.model, "created_at": _now(), "message": _assistant(""), **_stats(plan)}
        )
    )
    return frames


def generate(plan: Plan) -> dict[str, Any]:
    return {
        "model": plan.model,
        "created_at": _now(),
        "response": plan.text,
        "context": [1, 2, 3],
        **_stats(plan),
    }


def generate_stream(plan: Plan) -> list[bytes]:
    frames = [
        ndjson({"model": plan.model, "created_at": _now(), "response": piece, "done": False})
        for piece in plan.chunks
        if piece
    ]
    frames.append(
        ndjson(
            {
                "model": plan.model,
                "created_at": _now(),
                "response": "",
                "context": [1, 2, 3],
                **_stats(plan),
            }
        )
    )
    return frames


def embed(body: dict[str, Any], dim: int, prompt_tokens: int | None) -> tuple[int, dict[str, Any]]:
    raw = body.get("input")
    if not body.get("model") or raw is None:
        return 400, error_body(400, "model and input are required")
    inputs = [raw] if isinstance(raw, str) else [str(x) for x in raw]
    count = sum(max(1, len(t.split())) for t in inputs)
    return 200, {
        "model": str(body["model"]),
        "embeddings": [embedding_vector(t, dim) for t in inputs],
        "total_duration": _DURATION_NS,
        "load_duration": 0,
        "prompt_eval_count": prompt_tokens if prompt_tokens is not None else count,
    }


def tags(model_ids: list[str]) -> dict[str, Any]:
    def entry(name: str) -> dict[str, Any]:
        full = name if ":" in name else f"{name}:latest"
        return {
            "name": full,
            "model": full,
            "modified_at": "2025-01-01T00:00:00Z",
            "size": 2_000_000_000,
            "digest": hashlib.sha256(full.encode()).hexdigest(),
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M",
            },
        }

    return {"models": [entry(m) for m in model_ids]}
