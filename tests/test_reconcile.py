"""A Redis that lost its counters is rebuilt from the ledger: the budget gate sees the spend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.conf import settings

from governance.counters import keys
from governance.counters.base import GrantSlot, ReserveRequest, usd_to_nano
from governance.counters.redis_store import RedisCounterStore
from governance.models import UsageRecord
from governance.reconcile import reconcile_counters
from governance.services.grants import create_grant
from governance.services.tenants import update_tenant
from governance.services.users import update_user

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 15, 12, 0, tzinfo=UTC).timestamp()
YESTERDAY = NOW - 86_400


class Gateway:
    """Charges requests the way the gateway does: reserve, settle, and a ledger row."""

    def __init__(self, user, *, grants=(), daily_cap=None):
        self.user = user
        self.grants = tuple(
            GrantSlot(g.pk, usd_to_nano(g.amount_usd), g.expires_at.timestamp()) for g in grants
        )
        self.daily_cap = daily_cap
        self.count = 0

    def _request(self, cost: str, now: float) -> ReserveRequest:
        self.count += 1
        budget = self.user.budget.daily_budget_usd
        return ReserveRequest(
            request_id=f"req-{self.user.pk}-{self.count}-{now}",
            tenant_id=self.user.tenant_id,
            user_id=self.user.pk,
            key_id=1,
            now=now,
            cost_nano=usd_to_nano(Decimal(cost)),
            user_daily_budget_nano=usd_to_nano(budget) if budget is not None else None,
            grants=self.grants,
            tenant_daily_cap_nano=usd_to_nano(self.daily_cap) if self.daily_cap else None,
        )

    def run(self, coro_fn):
        async def main():
            store = RedisCounterStore(settings.REDIS_URL)
            try:
                return await coro_fn(store)
            finally:
                await store.aclose()

        return asyncio.run(main())

    def charge(self, cost: str, now: float = NOW, *, ledger_cost: str | None = None) -> None:
        req = self._request(cost, now)

        async def go(store):
            assert (await store.reserve(req)).ok
            await store.settle(
                tenant_id=req.tenant_id, request_id=req.request_id, actual_nano=req.cost_nano
            )

        self.run(go)
        UsageRecord.objects.create(
            request_id=req.request_id,
            created_at=datetime.fromtimestamp(now, tz=UTC),
            tenant_id=req.tenant_id,
            user_id=req.user_id,
            decision="allowed",
            cost_usd=Decimal(ledger_cost or cost),
            model="gpt-4o-mini",
            provider="openai",
        )

    def try_reserve(self, cost: str, now: float = NOW) -> str:
        req = self._request(cost, now)

        async def go(store):
            result = await store.reserve(req)
            if result.ok:
                await store.release(tenant_id=req.tenant_id, request_id=req.request_id)
            return result.reason or "ok"

        return self.run(go)

    def spend(self, now: float = NOW):
        grant_ids = tuple(g.grant_id for g in self.grants)
        return self.run(
            lambda store: store.spend(
                tenant_id=self.user.tenant_id, user_id=self.user.pk, now=now, grant_ids=grant_ids
            )
        )


def test_budget_gate_sees_the_spend_again_after_a_flush(redis_client, dev_a):
    gateway = Gateway(dev_a)  # $10 daily budget
    for cost in ("4", "3", "2"):
        gateway.charge(cost)
    assert gateway.try_reserve("2") == "budget_exceeded"

    redis_client.flushdb()
    assert gateway.try_reserve("2") == "ok"  # the lost spend: the gate is wide open

    assert reconcile_counters(now=NOW) > 0
    assert gateway.try_reserve("2") == "budget_exceeded"
    assert gateway.try_reserve("1") == "ok"
    view = gateway.spend()
    assert view.user_day_nano == view.tenant_day_nano == usd_to_nano(Decimal("9"))


def test_grants_and_tenant_caps_are_rebuilt_exactly(redis_client, operator, tenant_a, dev_a):
    update_user(actor=operator, user=dev_a, daily_budget_usd=Decimal("1"))
    update_tenant(actor=operator, tenant=tenant_a, daily_cap_usd=Decimal("20"))
    dev_a.refresh_from_db()
    soon = create_grant(
        actor=operator,
        user=dev_a,
        amount_usd=Decimal("2"),
        expires_at=datetime(2031, 3, 20, tzinfo=UTC),
    )
    later = create_grant(
        actor=operator,
        user=dev_a,
        amount_usd=Decimal("5"),
        expires_at=datetime(2031, 4, 30, tzinfo=UTC),
    )
    gateway = Gateway(dev_a, grants=[soon, later], daily_cap=Decimal("20"))
    # Yesterday: $1 daily + $1.5 of the soonest grant. Today: $1 daily, $0.5 + $1.1 of grants.
    for cost, when in (("0.75", YESTERDAY), ("1.75", YESTERDAY), ("1.6", NOW), ("1", NOW)):
        gateway.charge(cost, when)
    before = gateway.spend()
    assert before.grant_spent_nano == {
        soon.pk: usd_to_nano(Decimal("2")),
        later.pk: usd_to_nano(Decimal("1.1")),
    }

    redis_client.flushdb()
    assert gateway.spend().tenant_month_nano == 0
    reconcile_counters(now=NOW)

    after = gateway.spend()
    assert after == before
    assert after.tenant_month_nano == usd_to_nano(Decimal("5.1"))
    assert after.tenant_day_nano == usd_to_nano(Decimal("2.6"))
    assert after.user_day_nano == usd_to_nano(Decimal("1"))
    # 3.9 left on the later grant: 3.9 passes, 4 does not.
    assert gateway.try_reserve("4") == "budget_exceeded"
    assert gateway.try_reserve("3.9") == "ok"
    month_key = keys.tenant_month(tenant_a.pk, keys.month_stamp(NOW))
    assert redis_client.ttl(month_key) > 0


def test_live_counters_are_never_lowered(redis_client, dev_a):
    gateway = Gateway(dev_a)
    gateway.charge("3")
    # A reservation in flight: in the counters, not yet in the ledger.
    req = gateway._request("2", NOW)
    gateway.run(lambda store: store.reserve(req))
    before = gateway.spend()

    assert reconcile_counters(now=NOW) == 0
    assert gateway.spend() == before
    assert before.user_day_nano == usd_to_nano(Decimal("5"))


def test_refused_and_free_requests_do_not_count(redis_client, dev_a):
    UsageRecord.objects.create(
        request_id="refused-1",
        created_at=datetime.fromtimestamp(NOW, tz=UTC),
        tenant_id=dev_a.tenant_id,
        user_id=dev_a.pk,
        decision="refused",
        reason="budget_exceeded",
        cost_usd=Decimal("0"),
    )
    assert reconcile_counters(now=NOW) == 0
    assert redis_client.dbsize() == 0


def test_micro_dollar_rounding_of_the_ledger_is_not_a_loss(redis_client, dev_a):
    gateway = Gateway(dev_a)
    for _ in range(3):  # the ledger rounds each charge up to the micro-dollar
        gateway.charge("0.100000001", ledger_cost="0.100001")
    before = gateway.spend()
    assert reconcile_counters(now=NOW) == 0  # steady state: nothing written
    assert gateway.spend() == before

    redis_client.delete(keys.user_day(dev_a.tenant_id, dev_a.pk, keys.day_stamp(NOW)))
    assert reconcile_counters(now=NOW) == 1  # only the missing key
    assert gateway.spend().user_day_nano == usd_to_nano(Decimal("0.300003"))
