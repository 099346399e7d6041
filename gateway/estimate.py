"""Token estimates for the budget reservation: conservative by design.

Rule (public so tests and dashboards can compute the exact reservation):

- prompt text counts one token per 3 UTF-8 bytes, rounded up (real tokenizers
  average about 4 bytes per token for English, so this over-estimates);
  non-text content (images, tool calls, tool definitions) counts by the bytes
  of its JSON;
- chat adds 4 tokens per message and 3 for priming the reply;
- token-id prompts (lists of integers) count one token per id;
- the output side is the request's `max_completion_tokens`/`max_tokens`
  (or `CANDELA_DEFAULT_MAX_TOKENS`) times `n`; embeddings have none.

The reservation is the worst case; the charge is settled from the provider's
reported usage. Streamed text without reported usage is charged by the same
3-bytes-per-token rule.
"""

from __future__ import annotations

from typing import Any

import orjson

BYTES_PER_TOKEN = 3
MESSAGE_OVERHEAD_TOKENS = 4
REPLY_PRIMING_TOKENS = 3
_NON_CONTENT_FIELDS = ("name", "tool_calls", "function_call", "tool_call_id")
_CHAT_EXTRAS = ("tools", "functions", "response_format")


def tokens_for_bytes(nbytes: int) -> int:
    return -(-nbytes // BYTES_PER_TOKEN)


def text_bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _json_bytes(value: Any) -> int:
    return len(orjson.dumps(value))


def _content_bytes(content: Any) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return text_bytes(content)
    total = 0
    for part in content:
        text = part.get("text") if isinstance(part, dict) else None
        total += text_bytes(text) if isinstance(text, str) else _json_bytes(part)
    return total


def chat_prompt_tokens(body: dict[str, Any]) -> int:
    messages = body["messages"]
    nbytes = 0
    for message in messages:
        nbytes += _content_bytes(message.get("content"))
        for name in _NON_CONTENT_FIELDS:
            if message.get(name) is not None:
                nbytes += _json_bytes(message[name])
    for name in _CHAT_EXTRAS:
        if body.get(name) is not None:
            nbytes += _json_bytes(body[name])
    return tokens_for_bytes(nbytes) + MESSAGE_OVERHEAD_TOKENS * len(messages) + REPLY_PRIMING_TOKENS


def _input_tokens(value: Any) -> int:
    """A prompt/input: text, a list of texts, token ids, or lists of token ids."""
    if isinstance(value, str):
        return tokens_for_bytes(text_bytes(value))
    total = 0
    for item in value:
        if isinstance(item, str):
            total += tokens_for_bytes(text_bytes(item))
        elif isinstance(item, list):
            total += len(item)
        else:
            total += 1
    return total


def completion_prompt_tokens(body: dict[str, Any]) -> int:
    return _input_tokens(body["prompt"])


def embedding_prompt_tokens(body: dict[str, Any]) -> int:
    return _input_tokens(body["input"])


def max_output_tokens(body: dict[str, Any], default: int) -> int:
    """Worst-case completion tokens: the requested maximum (or default) times n."""
    limit = body.get("max_completion_tokens") or body.get("max_tokens") or default
    choices = max(body.get("n") or 1, body.get("best_of") or 1)
    return limit * choices
