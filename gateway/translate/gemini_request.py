"""Gemini generateContent requests ⇄ OpenAI chat requests.

Carried over: system instruction, text and inline images, function declarations
(schemas as JSON Schema), function calling mode, function calls and responses
(Gemini matches responses by name, OpenAI by id: ids are made up in order),
and generation config (max output tokens, temperature, top_p, stop sequences,
candidate count, seed, JSON output). Both the camelCase and the snake_case
spellings of Gemini's fields are read.
"""

from __future__ import annotations

from typing import Any

from gateway.translate.content import (
    append_turn,
    arguments_object,
    collapse,
    data_url,
    declared_functions,
    dumps,
    image_parts,
    max_tokens_of,
    stops,
    text_of,
)

_MODE_TO_OPENAI = {"AUTO": "auto", "ANY": "required", "NONE": "none", "VALIDATED": "auto"}
_CHOICE_TO_GEMINI = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
# Gemini generationConfig field → OpenAI field, both ways.
_CONFIG = (
    ("temperature", "temperature"),
    ("topP", "top_p"),
    ("maxOutputTokens", "max_tokens"),
    ("candidateCount", "n"),
    ("seed", "seed"),
    ("presencePenalty", "presence_penalty"),
    ("frequencyPenalty", "frequency_penalty"),
)


def get(obj: dict[str, Any], camel: str) -> Any:
    """A field under its camelCase name or its snake_case one."""
    if camel in obj:
        return obj[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return obj.get(snake)


def json_schema(schema: Any) -> Any:
    """A Gemini (OpenAPI-style) schema as JSON Schema: lower-case types."""
    if isinstance(schema, list):
        return [json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: json_schema(v) for k, v in schema.items() if k != "propertyOrdering"}
    if isinstance(out.get("type"), str):
        out["type"] = out["type"].lower()
    return out


def _parts_text(content: Any) -> str:
    parts = content.get("parts") if isinstance(content, dict) else None
    return "\n".join(
        p["text"] for p in parts or () if isinstance(p, dict) and isinstance(p.get("text"), str)
    )


class _CallIds:
    """Gemini pairs a functionResponse with its functionCall by name, OpenAI by id."""

    def __init__(self) -> None:
        self._pending: dict[str, list[str]] = {}
        self._count = 0

    def call(self, call: dict[str, Any]) -> str:
        call_id = call.get("id") or f"call_{self._count}"
        self._count += 1
        self._pending.setdefault(call.get("name", ""), []).append(call_id)
        return call_id

    def response(self, response: dict[str, Any]) -> str:
        waiting = self._pending.get(response.get("name", ""))
        return response.get("id") or (waiting.pop(0) if waiting else f"call_{self._count}")


def _model_turn(parts: list[dict[str, Any]], ids: _CallIds) -> dict[str, Any]:
    text = "".join(
        p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")
    )
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    calls = []
    for part in parts:
        call = get(part, "functionCall")
        if isinstance(call, dict):
            arguments = dumps(call.get("args") or {})
            function = {"name": call.get("name", ""), "arguments": arguments}
            calls.append({"id": ids.call(call), "type": "function", "function": function})
    if calls:
        message["tool_calls"] = calls
    return message


def _user_turn(parts: list[dict[str, Any]], ids: _CallIds, out: list[dict[str, Any]]) -> None:
    content: list[dict[str, Any]] = []
    for part in parts:
        response = get(part, "functionResponse")
        inline, file = get(part, "inlineData"), get(part, "fileData")
        if isinstance(response, dict):
            result = dumps(response.get("response") or {})
            out.append({"role": "tool", "tool_call_id": ids.response(response), "content": result})
        elif isinstance(part.get("text"), str):
            content.append({"type": "text", "text": part["text"]})
        elif isinstance(inline, dict):
            url = f"data:{get(inline, 'mimeType')};base64,{inline.get('data', '')}"
            content.append({"type": "image_url", "image_url": {"url": url}})
        elif isinstance(file, dict) and get(file, "fileUri"):
            content.append({"type": "image_url", "image_url": {"url": get(file, "fileUri")}})
    if content:
        out.append({"role": "user", "content": collapse(content)})


def _tools_to_openai(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = []
    for tool in body.get("tools") or ():
        for decl in get(tool, "functionDeclarations") or () if isinstance(tool, dict) else ():
            params = decl.get("parameters") or get(decl, "parametersJsonSchema")
            function = {"name": decl.get("name"), "description": decl.get("description", "")}
            function["parameters"] = json_schema(params) or {"type": "object", "properties": {}}
            tools.append({"type": "function", "function": function})
    return tools


def _tool_choice_to_openai(body: dict[str, Any]) -> Any:
    config = get(get(body, "toolConfig") or {}, "functionCallingConfig") or {}
    mode = _MODE_TO_OPENAI.get(str(config.get("mode", "")).upper())
    names = get(config, "allowedFunctionNames") or []
    if mode == "required" and len(names) == 1:
        return {"type": "function", "function": {"name": names[0]}}
    return mode


def _config_to_openai(config: dict[str, Any], out: dict[str, Any]) -> None:
    for gemini, openai in _CONFIG:
        if get(config, gemini) is not None:
            out[openai] = get(config, gemini)
    if get(config, "stopSequences"):
        out["stop"] = list(get(config, "stopSequences"))
    if get(config, "responseMimeType") == "application/json":
        schema = get(config, "responseJsonSchema") or get(config, "responseSchema")
        out["response_format"] = (
            {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": json_schema(schema)},
            }
            if schema
            else {"type": "json_object"}
        )


def to_openai(body: dict[str, Any], *, model: str, stream: bool) -> dict[str, Any]:
    """A Gemini request (model and streaming from its URL) as an OpenAI chat request."""
    messages: list[dict[str, Any]] = []
    system = _parts_text(get(body, "systemInstruction"))
    if system:
        messages.append({"role": "system", "content": system})
    ids = _CallIds()
    for content in body.get("contents") or ():
        parts = [p for p in content.get("parts") or () if isinstance(p, dict)]
        if content.get("role") == "model":
            messages.append(_model_turn(parts, ids))
        else:
            _user_turn(parts, ids, messages)
    out: dict[str, Any] = {"model": model, "messages": messages}
    if stream:
        out["stream"] = True
    _config_to_openai(get(body, "generationConfig") or {}, out)
    if tools := _tools_to_openai(body):
        out["tools"] = tools
        if choice := _tool_choice_to_openai(body):
            out["tool_choice"] = choice
    return out


def _user_parts(content: Any) -> list[dict[str, Any]]:
    text = text_of(content)
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    for url in image_parts(content):
        inline = data_url(url)
        if inline:
            parts.append({"inlineData": {"mimeType": inline[0], "data": inline[1]}})
        else:
            parts.append({"fileData": {"fileUri": url}})
    return parts


def _response_object(content: Any) -> dict[str, Any]:
    text = text_of(content)
    value = arguments_object(text)
    return value if value else {"result": text}


def _config_from_openai(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for gemini, openai in _CONFIG:
        if body.get(openai) is not None:
            config[gemini] = body[openai]
    if (limit := max_tokens_of(body)) is not None:
        config["maxOutputTokens"] = limit
    if stop := stops(body):
        config["stopSequences"] = stop
    response_format = body.get("response_format") or {}
    if response_format.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema:
            config["responseJsonSchema"] = schema
    return config


def from_openai(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat request as a Gemini request (the model goes in the URL)."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id → function name
    for message in body.get("messages") or ():
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(text_of(message.get("content")))
        elif role == "tool":
            name = names.get(message.get("tool_call_id") or "", message.get("name") or "tool")
            reply = {"name": name, "response": _response_object(message.get("content"))}
            append_turn(turns, "user", [{"functionResponse": reply}], "parts")
        elif role == "assistant":
            text = text_of(message.get("content"))
            parts: list[dict[str, Any]] = [{"text": text}] if text else []
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                names[call.get("id") or ""] = function.get("name", "")
                args = arguments_object(function.get("arguments"))
                parts.append({"functionCall": {"name": function.get("name", ""), "args": args}})
            append_turn(turns, "model", parts, "parts")
        else:
            append_turn(turns, "user", _user_parts(message.get("content")), "parts")
    out: dict[str, Any] = {"contents": turns}
    if any(system):
        out["systemInstruction"] = {"parts": [{"text": "\n\n".join(s for s in system if s)}]}
    declarations = declared_functions(body, "parametersJsonSchema")
    if declarations:
        out["tools"] = [{"functionDeclarations": declarations}]
        choice = body.get("tool_choice")
        name = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
        mode = "ANY" if name else _CHOICE_TO_GEMINI.get(choice) if isinstance(choice, str) else None
        if mode:
            calling: dict[str, Any] = {"mode": mode}
            if name:
                calling["allowedFunctionNames"] = [name]
            out["toolConfig"] = {"functionCallingConfig": calling}
    if config := _config_from_openai(body):
        out["generationConfig"] = config
    return out
