"""The budget gate: one atomic reserve (rate windows, tenant caps, user budget and
grants), then settle to the exact cost or release.

A request refused before this step (401/400/403/404/413) consumes no rate-limit
slot and costs no counter round trip.
"""

from __future__ import annotations

import logging
import math

from gateway.context import RequestContext
from gateway.errors import Denial, governance_unavailable
from gateway.responses import Header
from governance.counters.base import (
    RATE_LIMIT_EXCEEDED,
    SPEND_CAP_EXCEEDED,
    CounterStore,
    CounterStoreUnavailable,
    RateInfo,
    ReserveRequest,
)
from governance.snapshot import KeyPolicy, TenantPolicy

log = logging.getLogger(__name__)

_MESSAGES = {
    RATE_LIMIT_EXCEEDED: "Rate limit reached for requests per minute; retry after the delay.",
    SPEND_CAP_EXCEEDED: "Your organisation's daily or monthly spend cap has been reached.",
}
_BUDGET_MESSAGE = "Your daily budget and grants cannot cover this request."


def rate_headers(rate: RateInfo | None) -> list[Header]:
    if rate is None:
        return []
    return [
        (b"x-ratelimit-limit-requests", str(rate.limit).encode()),
        (b"x-ratelimit-remaining-requests", str(rate.remaining).encode()),
        (b"x-ratelimit-reset-requests", f"{max(0, math.ceil(rate.reset_seconds))}s".encode()),
    ]


class BudgetGate:
    def __init__(self, store: CounterStore) -> None:
        self._store = store

    async def reserve(
        self,
        ctx: RequestContext,
        *,
        key: KeyPolicy,
        tenant: TenantPolicy,
        now: float,
        cost_nano: int,
    ) -> list[Header]:
        """Reserve `cost_nano`; returns the x-ratelimit-* headers, or raises a Denial."""
        owner = key.owner
        request = ReserveRequest(
            request_id=ctx.request_id,
            tenant_id=tenant.id,
            user_id=owner.id,
            key_id=key.id,
            now=now,
            cost_nano=cost_nano,
            key_rpm=key.rate_limit_rpm,
            user_rpm=owner.rate_limit_rpm,
            user_daily_budget_nano=owner.daily_budget_nano,
            grants=owner.grants,
            tenant_daily_cap_nano=tenant.daily_cap_nano,
            tenant_monthly_cap_nano=tenant.monthly_cap_nano,
        )
        try:
            result = await self._store.reserve(request)
        except CounterStoreUnavailable as exc:
            log.error("counter store unavailable, refusing request: %s", exc)
            raise governance_unavailable(
                "Governance counters are unavailable; the request was not forwarded."
            ) from None
        headers = rate_headers(result.rate)
        if result.ok:
            return headers
        if result.reason == RATE_LIMIT_EXCEEDED:
            retry = max(1, math.ceil(result.retry_after))
            headers.append((b"retry-after", str(retry).encode()))
        raise Denial(result.reason, _MESSAGES.get(result.reason, _BUDGET_MESSAGE), headers=headers)

    async def settle(self, ctx: RequestContext, actual_nano: int) -> None:
        """Charge the exact cost; a store failure leaves the reservation to expire."""
        assert ctx.tenant is not None
        try:
            if actual_nano > 0:
                await self._store.settle(
                    tenant_id=ctx.tenant.id, request_id=ctx.request_id, actual_nano=actual_nano
                )
            else:
                await self._store.release(tenant_id=ctx.tenant.id, request_id=ctx.request_id)
        except CounterStoreUnavailable as exc:
            # The ledger row still carries the cost; the reservation frees on its TTL.
            log.error("could not settle request %s: %s", ctx.request_id, exc)
