"""User budget waterfall, settle and release, against both counter stores."""

from __future__ import annotations

import functools
from decimal import Decimal

import pytest
from django.conf import settings
from test_counters_support import NOW, STORE_KINDS, TENANT, USER, request, run_scenario

from governance.counters.base import (
    BUDGET_EXCEEDED,
    GrantSlot,
    SettleResult,
    cost_nano,
    nano_to_usd,
    usd_to_nano,
)

DAY = 86_400


@pytest.fixture(params=STORE_KINDS)
def on_store(request, redis_client):
    return functools.partial(run_scenario, request.param, settings.REDIS_URL)


async def spent(store, grant_ids=()):
    return await store.spend(tenant_id=TENANT, user_id=USER, now=NOW, grant_ids=grant_ids)


def test_waterfall_spends_daily_first_then_grants_soonest_expiry_first(on_store):
    grants = (
        GrantSlot(grant_id=7, amount_nano=500, expires_at=NOW + 2 * DAY),
        GrantSlot(grant_id=8, amount_nano=400, expires_at=NOW + DAY),
        GrantSlot(grant_id=9, amount_nano=10_000, expires_at=NOW - 1),  # expired: never used
    )
    budget = {"user_daily_budget_nano": 1_000, "grants": grants}

    async def scenario(store):
        first = await store.reserve(request(request_id="a", cost_nano=1_600, **budget))
        settled = await store.settle(tenant_id=TENANT, request_id="a", actual_nano=1_600)
        view = await spent(store, (7, 8, 9))
        rest = await store.reserve(request(cost_nano=300, **budget))
        over = await store.reserve(request(cost_nano=1, **budget))
        return first, settled, view, rest, over

    first, settled, view, rest, over = on_store(scenario)
    assert first.ok
    assert settled == SettleResult(1_600, {"daily": 1_000, "grant:8": 400, "grant:7": 200})
    assert view.user_day_nano == 1_000
    assert view.grant_spent_nano == {7: 200, 8: 400, 9: 0}
    assert rest.ok  # the 300 left on grant 7
    assert not over.ok
    assert over.reason == BUDGET_EXCEEDED  # the expired grant's 10_000 does not count


def test_budget_exceeded_counts_outstanding_reservations_and_changes_nothing(on_store):
    async def scenario(store):
        first = await store.reserve(
            request(request_id="a", cost_nano=600, user_daily_budget_nano=1_000)
        )
        second = await store.reserve(request(cost_nano=600, user_daily_budget_nano=1_000))
        view = await spent(store)
        await store.release(tenant_id=TENANT, request_id="a")
        third = await store.reserve(request(cost_nano=1_000, user_daily_budget_nano=1_000))
        return first, second, view, third

    first, second, view, third = on_store(scenario)
    assert first.ok
    assert (second.ok, second.reason) == (False, BUDGET_EXCEEDED)
    assert (view.user_day_nano, view.tenant_day_nano, view.tenant_month_nano) == (600, 600, 600)
    assert third.ok


def test_settle_charges_actual_and_releases_the_rest(on_store):
    grants = (GrantSlot(grant_id=7, amount_nano=1_000, expires_at=NOW + DAY),)
    budget = {"user_daily_budget_nano": 500, "grants": grants}

    async def scenario(store):
        await store.reserve(request(request_id="a", cost_nano=1_200, **budget))
        settled = await store.settle(tenant_id=TENANT, request_id="a", actual_nano=700)
        view = await spent(store, (7,))
        fits = await store.reserve(request(request_id="b", cost_nano=800, **budget))
        await store.release(tenant_id=TENANT, request_id="b")
        too_much = await store.reserve(request(cost_nano=801, **budget))
        return settled, view, fits, too_much

    settled, view, fits, too_much = on_store(scenario)
    assert settled == SettleResult(700, {"daily": 500, "grant:7": 200})
    assert view.user_day_nano == 500
    assert view.grant_spent_nano == {7: 200}
    assert (view.tenant_day_nano, view.tenant_month_nano) == (700, 700)
    assert fits.ok  # 800 of the grant is free again
    assert too_much.reason == BUDGET_EXCEEDED


def test_settle_overflow_is_charged_to_the_first_bucket(on_store):
    grants = (GrantSlot(grant_id=7, amount_nano=1_000, expires_at=NOW + DAY),)
    budget = {"user_daily_budget_nano": 500, "grants": grants}

    async def scenario(store):
        await store.reserve(request(request_id="a", cost_nano=800, **budget))
        settled = await store.settle(tenant_id=TENANT, request_id="a", actual_nano=1_000)
        return settled, await spent(store, (7,))

    settled, view = on_store(scenario)
    assert settled == SettleResult(1_000, {"daily": 700, "grant:7": 300})
    assert view.user_day_nano == 700
    assert view.grant_spent_nano == {7: 300}
    assert (view.tenant_day_nano, view.tenant_month_nano) == (1_000, 1_000)


def test_release_refunds_everything(on_store):
    grants = (GrantSlot(grant_id=7, amount_nano=1_000, expires_at=NOW + DAY),)
    limits = {
        "user_daily_budget_nano": 500,
        "grants": grants,
        "tenant_daily_cap_nano": 1_500,
        "tenant_monthly_cap_nano": 1_500,
    }

    async def scenario(store):
        await store.reserve(request(request_id="a", cost_nano=1_500, **limits))
        await store.release(tenant_id=TENANT, request_id="a")
        view = await spent(store, (7,))
        late = await store.settle(tenant_id=TENANT, request_id="a", actual_nano=1_500)
        again = await store.reserve(request(cost_nano=1_500, **limits))
        return view, late, again

    view, late, again = on_store(scenario)
    assert view.user_day_nano == 0
    assert view.grant_spent_nano == {7: 0}
    assert (view.tenant_day_nano, view.tenant_month_nano) == (0, 0)
    assert late == SettleResult(0, {})  # a released reservation cannot be charged afterwards
    assert again.ok


def test_settle_is_idempotent(on_store):
    async def scenario(store):
        await store.reserve(request(request_id="a", cost_nano=1_000, user_daily_budget_nano=5_000))
        first = await store.settle(tenant_id=TENANT, request_id="a", actual_nano=400)
        second = await store.settle(tenant_id=TENANT, request_id="a", actual_nano=400)
        unknown = await store.settle(tenant_id=TENANT, request_id="never", actual_nano=400)
        return first, second, unknown, await spent(store)

    first, second, unknown, view = on_store(scenario)
    assert first == SettleResult(400, {"daily": 400})
    assert second == SettleResult(0, {})
    assert unknown == SettleResult(0, {})
    assert (view.user_day_nano, view.tenant_day_nano) == (400, 400)


def test_retried_reserve_with_the_same_id_is_counted_once(on_store):
    async def scenario(store):
        first = await store.reserve(
            request(request_id="a", cost_nano=600, user_daily_budget_nano=1_000)
        )
        retry = await store.reserve(
            request(request_id="a", cost_nano=600, user_daily_budget_nano=1_000)
        )
        return first, retry, await spent(store)

    first, retry, view = on_store(scenario)
    assert first.ok
    assert retry.ok
    assert view.user_day_nano == 600


def test_user_without_daily_budget_is_unlimited_and_grants_stay_untouched(on_store):
    grants = (GrantSlot(grant_id=7, amount_nano=100, expires_at=NOW + DAY),)

    async def scenario(store):
        result = await store.reserve(request(request_id="a", cost_nano=10**12, grants=grants))
        settled = await store.settle(tenant_id=TENANT, request_id="a", actual_nano=10**12)
        return result, settled, await spent(store, (7,))

    result, settled, view = on_store(scenario)
    assert result.ok
    assert settled == SettleResult(10**12, {"daily": 10**12})
    assert view.user_day_nano == 10**12
    assert view.grant_spent_nano == {7: 0}


def test_abandoned_reservation_frees_after_an_hour(on_store):
    async def scenario(store):
        budget = {"user_daily_budget_nano": 1_000, "cost_nano": 1_000}
        await store.reserve(request(request_id="crashed", **budget))
        soon = await store.reserve(request(now=NOW + 60, **budget))
        later = await store.reserve(request(request_id="b", now=NOW + 3_601, **budget))
        late = await store.settle(tenant_id=TENANT, request_id="crashed", actual_nano=1_000)
        return soon, later, late, await spent(store)

    soon, later, late, view = on_store(scenario)
    assert soon.reason == BUDGET_EXCEEDED
    assert later.ok
    assert late == SettleResult(0, {})
    assert view.user_day_nano == 1_000  # only the second reservation holds budget


def test_money_helpers_round_against_the_user_and_stay_exact():
    assert usd_to_nano(Decimal("10")) == 10_000_000_000
    assert usd_to_nano(Decimal("0.0000000011")) == 2
    assert nano_to_usd(1_500_000_001) == Decimal("1.500000001")
    assert str(nano_to_usd(10_000_000_000)) == "10.000000000"
    # 1000 prompt tokens at $2.50/M + 500 completion tokens at $10/M = $0.0075
    assert cost_nano(1_000, 500, Decimal("2.50"), Decimal("10")) == 7_500_000
    assert cost_nano(1, 0, Decimal("0.000001"), Decimal("0")) == 1  # 0.001 nano rounds up
    assert cost_nano(0, 0, Decimal("5"), Decimal("15")) == 0


def test_negative_amounts_are_refused_rather_than_credited(on_store):
    async def scenario(store):
        with pytest.raises(ValueError):
            await store.reserve(request(cost_nano=-1_000, user_daily_budget_nano=1_000))
        await store.reserve(request(request_id="a", cost_nano=100, user_daily_budget_nano=1_000))
        with pytest.raises(ValueError):
            await store.settle(tenant_id=TENANT, request_id="a", actual_nano=-1)
        return await spent(store)

    assert on_store(scenario).user_day_nano == 100
