"""Ollama's native API (`/api/chat`, `/api/generate`, `/api/embed`) ⇄ OpenAI's.

Usage is exact: `prompt_eval_count` and `eval_count`. Streams are NDJSON lines,
the last one `done: true` with the counts. Tool calls carry no id in Ollama:
ids are made up in order (`call_0`, …), and tool results go back by tool name.
"""

from __future__ import annotations

from typing import Any

from gateway.providers.base import UpstreamGarbage
from gateway.translate.content import (
    LENGTH,
    STOP,
    TOOL_CALLS,
    ChunkMaker,
    arguments_object,
    chat_completion,
    data_url,
    dumps,
    image_parts,
    max_tokens_of,
    message_choice,
    stops,
    text_of,
    tool_call,
    usage_dict,
)

# OpenAI sampling field → Ollama `options` field.
_OPTIONS = (
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("seed", "seed"),
    ("presence_penalty", "presence_penalty"),
    ("frequency_penalty", "frequency_penalty"),
)


def _options(body: dict[str, Any]) -> dict[str, Any]:
    options = {ollama: body[name] for name, ollama in _OPTIONS if body.get(name) is not None}
    if (limit := max_tokens_of(body)) is not None:
        options["num_predict"] = limit
    if stop := stops(body):
        options["stop"] = stop
    return options


def _common(body: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"model": model, "stream": stream}
    if options := _options(body):
        out["options"] = options
    if (body.get("response_format") or {}).get("type") in ("json_object", "json_schema"):
        schema = ((body["response_format"].get("json_schema") or {}).get("schema")) or "json"
        out["format"] = schema
    return out


def chat_request(body: dict[str, Any], *, model: str, stream: bool) -> dict[str, Any]:
    names: dict[str, str] = {}
    messages = []
    for message in body.get("messages") or ():
        role = message.get("role")
        out: dict[str, Any] = {
            "role": "system" if role == "developer" else role,
            "content": text_of(message.get("content")),
        }
        images = [
            inline[1] for url in image_parts(message.get("content")) if (inline := data_url(url))
        ]
        if images:
            out["images"] = images
        calls = []
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            names[call.get("id") or ""] = function.get("name", "")
            arguments = arguments_object(function.get("arguments"))
            calls.append({"function": {"name": function.get("name", ""), "arguments": arguments}})
        if calls:
            out["tool_calls"] = calls
        if role == "tool":
            out["tool_name"] = names.get(message.get("tool_call_id") or "", "")
        messages.append(out)
    request = {**_common(body, model, stream), "messages": messages}
    if body.get("tools"):
        request["tools"] = body["tools"]
    return request


def generate_request(body: dict[str, Any], *, model: str, stream: bool) -> dict[str, Any]:
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = "".join(p for p in prompt if isinstance(p, str))
    request = {**_common(body, model, stream), "prompt": prompt or ""}
    if isinstance(body.get("suffix"), str):
        request["suffix"] = body["suffix"]
    return request


def embed_request(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    return {"model": model, "input": body.get("input")}


def usage_of(obj: dict[str, Any]) -> dict[str, int] | None:
    prompt, completion = obj.get("prompt_eval_count"), obj.get("eval_count")
    if type(prompt) is not int:
        return None
    return usage_dict(prompt, completion if type(completion) is int else 0)


def _finish(obj: dict[str, Any], has_calls: bool) -> str:
    if obj.get("done_reason") == "length":
        return LENGTH
    return TOOL_CALLS if has_calls else STOP


def _calls(message: dict[str, Any], first: int = 0) -> list[dict[str, Any]]:
    calls = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        arguments = function.get("arguments")
        text = arguments if isinstance(arguments, str) else dumps(arguments or {})
        calls.append(tool_call(f"call_{first + len(calls)}", function.get("name", ""), text))
    return calls


def chat_reply(obj: dict[str, Any]) -> dict[str, Any]:
    message = obj.get("message") or {}
    calls = _calls(message)
    choice = message_choice(0, text_of(message.get("content")), calls, _finish(obj, bool(calls)))
    return chat_completion(
        id=f"chatcmpl-ollama-{obj.get('created_at', '')}",
        model=str(obj.get("model", "")),
        choices=[choice],
        usage=usage_of(obj),
    )


def generate_reply(obj: dict[str, Any]) -> dict[str, Any]:
    reply = chat_completion(
        id=f"cmpl-ollama-{obj.get('created_at', '')}",
        model=str(obj.get("model", "")),
        choices=[
            {
                "index": 0,
                "text": obj.get("response") or "",
                "logprobs": None,
                "finish_reason": _finish(obj, False),
            }
        ],
        usage=usage_of(obj),
    )
    reply["object"] = "text_completion"
    return reply


def embed_reply(obj: dict[str, Any]) -> dict[str, Any]:
    vectors = obj.get("embeddings")
    if not isinstance(vectors, list):
        raise UpstreamGarbage("the provider's answer has no embeddings")
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    prompt = obj.get("prompt_eval_count") if type(obj.get("prompt_eval_count")) is int else 0
    return {
        "object": "list",
        "data": data,
        "model": str(obj.get("model", "")),
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    }


class OllamaChunks:
    """Provider side: Ollama NDJSON lines → canonical chunks (chat or completions)."""

    __slots__ = ("_calls", "_chunks", "_generate", "complete", "usage")

    def __init__(self, *, generate: bool) -> None:
        self._generate = generate
        self._chunks = ChunkMaker(obj="text_completion" if generate else "chat.completion.chunk")
        self._calls = 0
        self.usage: dict[str, int] | None = None
        self.complete = False

    def convert(self, obj: Any) -> list[dict[str, Any]]:
        if not isinstance(obj, dict):
            return []
        if obj.get("error"):
            raise UpstreamGarbage(f"the provider reported an error: {obj['error']}")
        make = self._chunks
        make.id = make.id or f"chatcmpl-ollama-{obj.get('created_at', '')}"
        make.model = str(obj.get("model", make.model))
        out = []
        if self._generate:
            if obj.get("response"):
                out.append(make.text_chunk(obj["response"]))
        else:
            message = obj.get("message") or {}
            if message.get("content"):
                out.append(make.chunk({"content": message["content"]}))
            for call in _calls(message, self._calls):
                out.append(make.chunk({"tool_calls": [{"index": self._calls, **call}]}))
                self._calls += 1
        if obj.get("done"):
            self.complete = True
            self.usage = usage_of(obj)
            finish = _finish(obj, self._calls > 0)
            out.append(make.text_chunk("", finish) if self._generate else make.chunk({}, finish))
        return out
