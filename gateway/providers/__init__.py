"""Provider adapters, one module per provider kind, behind `ProviderAdapter`."""

from __future__ import annotations

from gateway.providers.anthropic import AnthropicAdapter
from gateway.providers.base import ProviderAdapter
from gateway.providers.gemini import GeminiAdapter
from gateway.providers.ollama import OllamaAdapter
from gateway.providers.openai import OpenAIAdapter


def build_adapters() -> dict[str, ProviderAdapter]:
    """Adapters by provider kind (governance.constants.ProviderKind values)."""
    adapters: dict[str, ProviderAdapter] = {}
    for adapter in (OpenAIAdapter(), AnthropicAdapter(), GeminiAdapter(), OllamaAdapter()):
        for kind in adapter.kinds:
            adapters[kind] = adapter
    return adapters
