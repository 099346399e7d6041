"""Tokens to charge for an answer: the provider's usage, or the documented estimate."""

from __future__ import annotations

from gateway.estimate import tokens_for_bytes
from gateway.providers.base import Usage
from gateway.specs import ParsedRequest


def tokens_to_charge(
    request: ParsedRequest, usage: Usage | None, output_bytes: int
) -> tuple[int, int]:
    """(prompt, completion) tokens: reported usage when there is some, else estimated
    (prompt as reserved, completion from the text actually generated)."""
    if usage is not None:
        return usage.prompt_tokens, usage.completion_tokens
    return request.prompt_tokens, tokens_for_bytes(output_bytes)
