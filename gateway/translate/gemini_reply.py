"""Gemini generateContent answers ⇄ OpenAI chat completions (whole answers)."""

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
from gateway.translate.gemini_request import get

FINISH_TO_OPENAI = {
    "STOP": STOP,
    "MAX_TOKENS": LENGTH,
    "OTHER": STOP,
    "FINISH_REASON_UNSPECIFIED": STOP,
}
FILTERED = {
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE",
}  # fmt: skip
FINISH_TO_GEMINI = {
    STOP: "STOP",
    LENGTH: "MAX_TOKENS",
    CONTENT_FILTER: "SAFETY",
    TOOL_CALLS: "STOP",
}


def finish_to_openai(reason: Any, has_calls: bool) -> str:
    if reason in FILTERED:
        return CONTENT_FILTER
    finish = FINISH_TO_OPENAI.get(reason, STOP)
    return TOOL_CALLS if has_calls and finish == STOP else finish


def usage_to_openai(meta: Any) -> dict[str, int] | None:
    """Gemini usage as OpenAI's: thinking tokens are billed as output."""
    if not isinstance(meta, dict) or type(get(meta, "promptTokenCount")) is not int:
        return None
    prompt = get(meta, "promptTokenCount") + (get(meta, "toolUsePromptTokenCount") or 0)
    completion = (get(meta, "candidatesTokenCount") or 0) + (get(meta, "thoughtsTokenCount") or 0)
    return usage_dict(prompt, completion)


def parts_of(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts or () if isinstance(p, dict)]


def answer_text(parts: list[dict[str, Any]]) -> str:
    return "".join(
        p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")
    )


def calls_of(parts: list[dict[str, Any]], first_index: int = 0) -> list[dict[str, Any]]:
    calls = []
    for part in parts:
        call = get(part, "functionCall")
        if isinstance(call, dict):
            call_id = call.get("id") or f"call_{first_index + len(calls)}"
            calls.append(tool_call(call_id, call.get("name", ""), dumps(call.get("args") or {})))
    return calls


def to_openai(obj: dict[str, Any], *, model: str) -> dict[str, Any]:
    """A Gemini answer as an OpenAI chat completion (a blocked prompt: no text,
    finish reason content_filter)."""
    choices = []
    for position, candidate in enumerate(obj.get("candidates") or ()):
        if not isinstance(candidate, dict):
            continue
        parts = parts_of(candidate)
        calls = calls_of(parts)
        finish = finish_to_openai(get(candidate, "finishReason"), bool(calls))
        index = candidate.get("index", position)
        choices.append(message_choice(index, answer_text(parts), calls, finish))
    if not choices:
        choices.append(message_choice(0, "", [], CONTENT_FILTER))
    return chat_completion(
        id=f"chatcmpl-{get(obj, 'responseId') or ''}",
        model=get(obj, "modelVersion") or model,
        choices=choices,
        usage=usage_to_openai(get(obj, "usageMetadata")),
    )


def usage_from_openai(usage: Any) -> dict[str, int] | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion,
        "totalTokenCount": prompt + completion,
    }


def function_call_part(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    args = arguments_object(function.get("arguments"))
    return {"functionCall": {"name": function.get("name", ""), "args": args}}


def from_openai(obj: dict[str, Any], *, model: str) -> dict[str, Any]:
    """An OpenAI chat completion as a Gemini answer."""
    candidates = []
    for position, choice in enumerate(obj.get("choices") or ()):
        message = choice.get("message") or {}
        text = text_of(message.get("content"))
        parts: list[dict[str, Any]] = [{"text": text}] if text else []
        parts += [function_call_part(c) for c in message.get("tool_calls") or ()]
        candidate: dict[str, Any] = {
            "content": {"role": "model", "parts": parts},
            "finishReason": FINISH_TO_GEMINI.get(choice.get("finish_reason") or STOP, "STOP"),
            "index": choice.get("index", position),
        }
        candidates.append(candidate)
    reply: dict[str, Any] = {"candidates": candidates}
    usage = usage_from_openai(obj.get("usage"))
    if usage is not None:
        reply["usageMetadata"] = usage
    reply["modelVersion"] = obj.get("model") or model
    reply["responseId"] = str(obj.get("id", ""))
    return reply
