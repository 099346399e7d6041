"""Anthropic Messages API wire format."""

from __future__ import annotations

from typing import Any

from .common import Plan, PromptInfo, ToolSpec, sse, text_of

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
    }


def validate(body: dict[str, Any]) -> str | None:
    if not body.get("model"):
        return "model: Field required"
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "messages: Field required"
    if "max_tokens" not in body:
        return "max_tokens: Field required"
    return None


def _user_text(content: Any) -> str:
    """Text blocks only: tool_result blocks do not count as user text."""
    if isinstance(content, list):
        return text_of([b for b in content if isinstance(b, dict) and b.get("type") == "text"])
    return text_of(content)


def info(body: dict[str, Any]) -> PromptInfo:
    messages = body.get("messages") or []
    texts = [text_of(body.get("system"))]
    texts += [text_of(m.get("content")) for m in messages if isinstance(m, dict)]
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    last_user = ""
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            last_user = _user_text(m.get("content"))
            break
    tools = [
        ToolSpec(t["name"], t.get("input_schema") or {})
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("name") and t.get("type", "custom") == "custom"
    ]
    return PromptInfo(
        model=str(body.get("model")),
        prompt_text=" ".join(t for t in texts if t),
        last_user_text=last_user,
        tools=tools,
        last_is_user=last.get("role") == "user" and bool(_user_text(last.get("content"))),
    )


def _stop_reason(plan: Plan) -> str:
    return "tool_use" if plan.tool_call else "end_turn"


def _msg_id(plan: Plan) -> str:
    return f"msg_fake{plan.seq:06d}"


def message(plan: Plan) -> dict[str, Any]:
    if plan.tool_call:
        tc = plan.tool_call
        content: list[dict[str, Any]] = [
            {"type": "tool_use", "id": tc.id, "name": tc.name, "input": tc.arguments}
        ]
    else:
        content = [{"type": "text", "text": plan.text}]
    return {
        "id": _msg_id(plan),
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": content,
        "stop_reason": _stop_reason(plan),
        "stop_sequence": None,
        "usage": {
            "input_tokens": plan.prompt_tokens,
            "output_tokens": plan.completion_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def stream(plan: Plan) -> list[bytes]:
    start = message(plan)
    start["content"] = []
    start["stop_reason"] = None
    start["usage"] = dict(start["usage"], output_tokens=1)
    frames = [sse({"type": "message_start", "message": start}, "message_start")]
    if plan.tool_call:
        tc = plan.tool_call
        block = {"type": "tool_use", "id": tc.id, "name": tc.name, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in plan.chunks]
    else:
        block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in plan.chunks if piece]
    frames.append(
        sse(
            {"type": "content_block_start", "index": 0, "content_block": block},
            "content_block_start",
        )
    )
    frames.append(sse({"type": "ping"}, "ping"))
    frames.extend(
        sse({"type": "content_block_delta", "index": 0, "delta": d}, "content_block_delta")
        for d in deltas
    )
    frames.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    frames.append(
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": _stop_reason(plan), "stop_sequence": None},
                "usage": {"output_tokens": plan.completion_tokens},
            },
            "message_delta",
        )
    )
    frames.append(sse({"type": "message_stop"}, "message_stop"))
    return frames


def count_tokens(plan: Plan) -> dict[str, Any]:
    return {"input_tokens": plan.prompt_tokens}
