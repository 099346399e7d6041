"""Model policy: the key's allowlist, then the route that will serve the model."""

from __future__ import annotations

from collections.abc import Container

from gateway.errors import Denial
from governance.snapshot import KeyPolicy, PolicySnapshot, RouteTarget


def check_allowed(key: KeyPolicy, model: str) -> None:
    if not key.allows(model):
        raise Denial("model_not_allowed", f"This API key may not use the model {model!r}.")


class Router:
    """The first enabled route (lowest provider priority) with an adapter for its kind.

    Fallbacks, circuit breakers, region pinning and BAA routing come with the
    multi-provider issue; the boundary here stays: model name in, one target out.
    """

    def __init__(self, supported_kinds: Container[str]) -> None:
        self._kinds = supported_kinds

    def servable(self, targets: tuple[RouteTarget, ...]) -> RouteTarget | None:
        for target in targets:
            if target.enabled and target.kind in self._kinds:
                return target
        return None

    def __call__(self, snapshot: PolicySnapshot, model: str) -> RouteTarget:
        target = self.servable(snapshot.routes_for(model))
        if target is None:
            raise Denial("model_not_found", f"The model {model!r} does not exist.")
        return target
