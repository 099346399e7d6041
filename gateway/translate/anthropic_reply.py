"""Anthropic Messages answers ⇄ OpenAI chat completions (whole answers)."""

from __future__ import annotations

from typing import Any

from gateway.translate.content import (
    CONTENT_FILTER,
    LENGTH,
    STOP,
    TOOL_CALLS,
    arguments_object,
    chat_completion,
    dumps,
    message_choice,
    text_of,
    tool_call,
    usage_dict,
)

STOP_TO_OPENAI = {
    "end_turn": STOP,
    "stop_sequence": STOP,
    "pause_turn": STOP,
    "max_tokens": LENGTH,
    "model_context_window_exceeded": LENGTH,
    "tool_use": TOOL_CALLS,
    "refusal": CONTENT_FILTER,
}
FINISH_TO_ANTHROPIC = {
    STOP: "end_turn",
    LENGTH: "max_tokens",
    TOOL_CALLS: "tool_use",
    "function_call": "tool_use",
    CONTENT_FILTER: "refusal",
}


def usage_to_openai(usage: Any) -> dict[str, int] | None:
    """Anthropic usage as OpenAI's: prompt tokens include cache writes and reads
    (all of them are billed input)."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("input_tokens"), usage.get("output_tokens")
    if type(prompt) is not int or type(completion) is not int:
        return None
    for name in ("cache_creation_input_tokens", "cache_read_input_tokens"):
        if type(usage.get(name)) is int:
            prompt += usage[name]
    return usage_dict(prompt, completion)


def to_openai(obj: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic message as an OpenAI chat completion."""
    blocks = [b for b in obj.get("content") or () if isinstance(b, dict)]
    text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    calls = [
        tool_call(b.get("id", ""), b.get("name", ""), dumps(b.get("input") or {}))
        for b in blocks
        if b.get("type") == "tool_use"
    ]
    finish = STOP_TO_OPENAI.get(obj.get("stop_reason") or "", STOP)
    return chat_completion(
        id=f"chatcmpl-{obj.get('id', '')}",
        model=str(obj.get("model", "")),
        choices=[message_choice(0, text, calls, finish)],
        usage=usage_to_openai(obj.get("usage")),
    )


def from_openai(obj: dict[str, Any], *, model: str) -> dict[str, Any]:
    """An OpenAI chat completion as an Anthropic message (its first choice)."""
    choice = next(iter(obj.get("choices") or ()), {}) or {}
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    text = text_of(message.get("content"))
    if text:
        content.append({"type": "text", "text": text})
    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{index}",
                "name": function.get("name", ""),
                "input": arguments_object(function.get("arguments")),
            }
        )
    usage = obj.get("usage") or {}
    return {
        "id": f"msg_{obj.get('id', '')}",
        "type": "message",
        "role": "assistant",
        "model": obj.get("model") or model,
        "content": content,
        "stop_reason": FINISH_TO_ANTHROPIC.get(choice.get("finish_reason") or "", "end_turn"),
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.get("prompt_tokens") or 0,
            "output_tokens": usage.get("completion_tokens") or 0,
        },
    }
