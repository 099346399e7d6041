"""Per-request state: filled in by the pipeline steps, then handed to the recorder."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import Denial
from gateway.pii_policy import PiiOutcome
from governance.snapshot import KeyPolicy, RouteTarget, TenantPolicy


@dataclass(slots=True)
class RequestContext:
    """What happened to one request; becomes one audit event and one ledger row."""

    request_id: str
    endpoint: str
    client_ip: str
    started_at: float  # epoch seconds, for the record's timestamp
    started: float  # perf_counter, for latency
    key: KeyPolicy | None = None
    tenant: TenantPolicy | None = None
    model: str = ""
    stream: bool = False
    route: RouteTarget | None = None
    status: int = 200
    decision: str = "allowed"
    reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_nano: int = 0
    latency_ms: float = 0.0
    # One note per upstream attempt: provider, model, outcome, ms (gateway.fallback).
    attempts: list[dict[str, Any]] = field(default_factory=list)
    pii: PiiOutcome | None = None  # set when the request was scanned (gateway.pii_step)

    @classmethod
    def begin(cls, scope: dict[str, Any], endpoint: str) -> RequestContext:
        client = scope.get("client")
        return cls(
            request_id=os.urandom(16).hex(),  # as unique as uuid4().hex, cheaper
            endpoint=endpoint,
            client_ip=client[0] if client else "",
            started_at=time.time(),
            started=time.perf_counter(),
        )

    def refuse(self, denial: Denial) -> None:
        self.status = denial.status
        self.decision = denial.decision
        self.reason = denial.reason

    def finish(self) -> None:
        self.latency_ms = (time.perf_counter() - self.started) * 1000.0
