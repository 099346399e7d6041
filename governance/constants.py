from __future__ import annotations

from django.db import models


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    GEMINI = "gemini", "Google Gemini"
    OLLAMA = "ollama", "Ollama"
    LMSTUDIO = "lmstudio", "LM Studio"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible (Mistral, DeepSeek, Groq, …)"
