"""Google Gemini (Generative Language API, v1beta) wire format."""

from __future__ import annotations

from typing import Any

import orjson

from .common import Plan, PromptInfo, ToolSpec, sse

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}


def validate(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("contents"), list) or not body["contents"]:
        return "* GenerateContentRequest.contents: contents is not specified"
    return None


def _parts_text(content: Any) -> str:
    if not isinstance(content, dict):
        return ""
    parts = content.get("parts") or []
    return " ".join(
        p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
    )


def _get(d: dict[str, Any], camel: str, snake: str) -> Any:
    return d.get(camel, d.get(snake))


def info(model: str, body: dict[str, Any]) -> PromptInfo:
    contents = body.get("contents") or []
    system = _get(body, "systemInstruction", "system_instruction")
    texts = [_parts_text(system)] + [_parts_text(c) for c in contents]
    last = contents[-1] if contents and isinstance(contents[-1], dict) else {}
    tools = []
    for tool in body.get("tools") or []:
        for decl in _get(tool, "functionDeclarations", "function_declarations") or []:
            if isinstance(decl, dict) and decl.get("name"):
                params = (
                    decl.get("parameters")
                    or _get(decl, "parametersJsonSchema", "parameters_json_schema")
                    or {}
                )
                tools.append(ToolSpec(decl["name"], params))
    last_text = _parts_text(last)
    return PromptInfo(
        model=model,
        prompt_text=" ".join(t for t in texts if t),
        last_user_text=last_text,
        tools=tools,
        last_is_user=last.get("role", "user") == "user" and bool(last_text),
    )


def _usage(plan: Plan, final: bool) -> dict[str, Any]:
    usage: dict[str, Any] = {"promptTokenCount": plan.prompt_tokens}
    if final:
        usage["candidatesTokenCount"] = plan.completion_tokens
        usage["totalTokenCount"] = plan.total_tokens
    else:
        usage["totalTokenCount"] = plan.prompt_tokens
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": plan.prompt_tokens}]
    return usage


def _chunk(plan: Plan, parts: list[dict[str, Any]], final: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if final:
        candidate["finishReason"] = "STOP"
    return {
        "candidates": [candidate],
        "usageMetadata": _usage(plan, final),
        "modelVersion": plan.model,
        "responseId": f"fake{plan.seq:06d}",
    }


def _full_parts(plan: Plan) -> list[dict[str, Any]]:
    if plan.tool_call:
        tc = plan.tool_call
        return [{"functionCall": {"name": tc.name, "args": tc.arguments}}]
    return [{"text": plan.text}]


def generate_content(plan: Plan) -> dict[str, Any]:
    return _chunk(plan, _full_parts(plan), final=True)


def stream_objects(plan: Plan) -> list[dict[str, Any]]:
    if plan.tool_call:
        return [_chunk(plan, _full_parts(plan), final=True)]
    pieces = [p for p in plan.chunks if p] or [""]
    return [
        _chunk(plan, [{"text": piece}], final=i == len(pieces) - 1)
        for i, piece in enumerate(pieces)
    ]


def stream_sse(plan: Plan) -> list[bytes]:
    """``:streamGenerateContent?alt=sse``: each chunk as ``data: {...}\\r\\n\\r\\n``."""
    return [sse(obj).replace(b"\n\n", b"\r\n\r\n") for obj in stream_objects(plan)]


def stream_json_array(plan: Plan) -> list[bytes]:
    """``:streamGenerateContent`` without alt=sse: one JSON array, streamed element-wise."""
    objs = stream_objects(plan)
    frames = []
    for i, obj in enumerate(objs):
        prefix = b"[" if i == 0 else b",\r\n"
        frames.append(prefix + orjson.dumps(obj, option=orjson.OPT_INDENT_2))
    frames.append(b"]")
    return frames


def models(model_ids: list[str]) -> dict[str, Any]:
    return {
        "models": [
            {
                "name": f"models/{m}",
                "displayName": m,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            }
            for m in model_ids
        ]
    }


def count_tokens(plan: Plan) -> dict[str, Any]:
    return {"totalTokens": plan.prompt_tokens}
