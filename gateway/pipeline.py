"""The pipeline's steps, each built once, shared by the endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.attribution import Attribution
from gateway.auth import Authenticator
from gateway.fallback import Attempts
from gateway.pii_step import PiiStep
from gateway.providers.base import ProviderAdapter
from gateway.routing import Router
from gateway.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Pipeline:
    runtime: Runtime
    authenticate: Authenticator
    attribute: Attribution
    router: Router
    adapters: Mapping[str, ProviderAdapter]
    pii: PiiStep
    attempts: Attempts
