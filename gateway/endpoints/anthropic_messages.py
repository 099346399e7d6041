"""POST /v1/messages: Anthropic's Messages API, for Anthropic SDKs and tools.

The full pipeline of `InferenceEndpoint`; requests and answers in Anthropic's
format (natively relayed to Anthropic providers, translated for the others),
errors in Anthropic's shape (`{"type": "error", "error": {...}}`). The key comes
in `x-api-key` (or `Authorization: Bearer`, as the newer SDKs send it).
"""

from __future__ import annotations

from typing import Any

from gateway.errors import invalid_request
from gateway.estimate import chat_prompt_tokens
from gateway.specs import EndpointSpec
from gateway.translate import anthropic_request

ROLES = ("user", "assistant")


def _validate(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_request("messages: a non-empty array is required.")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise invalid_request(f"messages.{index}: an object with role user or assistant.")
        content = message.get("content")
        if not isinstance(content, str | list) or (
            isinstance(content, list) and not all(isinstance(b, dict) for b in content)
        ):
            raise invalid_request(f"messages.{index}.content: a string or an array of blocks.")
    if "max_tokens" not in body:
        raise invalid_request("max_tokens: Field required.")
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        raise invalid_request("system: a string or an array of text blocks.")
    tools = body.get("tools")
    if tools is not None and not (
        isinstance(tools, list) and all(isinstance(t, dict) for t in tools)
    ):
        raise invalid_request("tools: an array of tool objects.")


def _prompt_tokens(body: dict[str, Any]) -> int:
    """The documented estimate (gateway.estimate) of the request read as OpenAI chat."""
    canonical = anthropic_request.to_openai(body)
    if not canonical["messages"]:
        canonical["messages"] = [{"role": "user", "content": ""}]
    return chat_prompt_tokens(canonical)


MESSAGES = EndpointSpec(
    name="messages",
    path="/v1/messages",
    upstream_path="/v1/messages",
    kind="chat",
    validate=_validate,
    prompt_tokens=_prompt_tokens,
    has_output=True,
    client_format="anthropic",
)
