"""Test doubles for Candela's test suite and benchmarks.

``tests.fakes.provider.FakeProvider`` is an in-process HTTP server that speaks
the real wire formats of OpenAI, Anthropic, Gemini and Ollama.
"""

from typing import Any

__all__ = ["FakeProvider", "RecordedRequest"]


def __getattr__(name: str) -> Any:
    # Lazy, so ``python -m tests.fakes.provider`` does not import the module twice.
    if name in __all__:
        from . import provider

        return getattr(provider, name)
    raise AttributeError(name)
