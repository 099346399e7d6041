"""Model policy: the key's allowlist (routing itself is gateway.routing)."""

from __future__ import annotations

from gateway.errors import Denial
from governance.snapshot import KeyPolicy


def check_allowed(key: KeyPolicy, model: str) -> None:
    if not key.allows(model):
        raise Denial("model_not_allowed", f"This API key may not use the model {model!r}.")
