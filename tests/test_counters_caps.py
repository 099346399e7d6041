"""Tenant daily and monthly spend caps and the UTC period boundaries, against both stores."""

from __future__ import annotations

import functools

import pytest
from django.conf import settings
from test_counters_support import NOW, STORE_KINDS, TENANT, USER, at, request, run_scenario

from governance.counters.base import BUDGET_EXCEEDED, RATE_LIMIT_EXCEEDED, SPEND_CAP_EXCEEDED


@pytest.fixture(params=STORE_KINDS)
def on_store(request, redis_client):
    return functools.partial(run_scenario, request.param, settings.REDIS_URL)


async def reserve_and_settle(store, **fields):
    req = request(**fields)
    result = await store.reserve(req)
    if result.ok:
        await store.settle(
            tenant_id=req.tenant_id, request_id=req.request_id, actual_nano=req.cost_nano
        )
    return result


def test_tenant_daily_cap_is_shared_by_the_tenants_users(on_store):
    cap = {"tenant_daily_cap_nano": 1_000}

    async def scenario(store):
        return [
            await store.reserve(request(user_id=1, cost_nano=600, **cap)),
            await store.reserve(request(user_id=2, cost_nano=500, **cap)),
            await store.reserve(request(user_id=2, cost_nano=400, **cap)),
            await store.reserve(request(user_id=3, cost_nano=1, **cap)),
            await store.reserve(request(tenant_id=TENANT + 1, cost_nano=1_000, **cap)),
        ]

    first, over, fill, full, other_tenant = on_store(scenario)
    assert first.ok
    assert (over.ok, over.reason) == (False, SPEND_CAP_EXCEEDED)
    assert fill.ok
    assert full.reason == SPEND_CAP_EXCEEDED
    assert other_tenant.ok


def test_tenant_monthly_cap_spans_the_days_of_the_month(on_store):
    cap = {"tenant_monthly_cap_nano": 1_500}

    async def scenario(store):
        day_one = await reserve_and_settle(
            store, now=at("2026-11-02T10:00:00"), cost_nano=1_000, **cap
        )
        over = await store.reserve(request(now=at("2026-11-20T10:00:00"), cost_nano=600, **cap))
        fits = await store.reserve(request(now=at("2026-11-20T10:00:00"), cost_nano=500, **cap))
        view = await store.spend(tenant_id=TENANT, user_id=USER, now=at("2026-11-20T10:00:00"))
        return day_one, over, fits, view

    day_one, over, fits, view = on_store(scenario)
    assert day_one.ok
    assert over.reason == SPEND_CAP_EXCEEDED
    assert fits.ok
    assert (view.tenant_day_nano, view.tenant_month_nano) == (500, 1_500)


def test_at_midnight_utc_the_daily_counters_start_fresh_but_the_monthly_does_not(on_store):
    limits = {
        "tenant_daily_cap_nano": 1_000,
        "tenant_monthly_cap_nano": 1_500,
        "user_daily_budget_nano": 1_000,
    }
    before, after = at("2026-11-25T23:59:59.9"), at("2026-11-26T00:00:00.1")

    async def scenario(store):
        spent_late = await reserve_and_settle(store, now=before, cost_nano=1_000, **limits)
        same_day = await store.reserve(request(now=before, cost_nano=1, **limits))
        next_day = await reserve_and_settle(store, now=after, cost_nano=500, **limits)
        month_full = await store.reserve(request(now=after, cost_nano=1, **limits))
        old_day = await store.spend(tenant_id=TENANT, user_id=USER, now=before)
        new_day = await store.spend(tenant_id=TENANT, user_id=USER, now=after)
        return spent_late, same_day, next_day, month_full, old_day, new_day

    spent_late, same_day, next_day, month_full, old_day, new_day = on_store(scenario)
    assert spent_late.ok
    assert same_day.reason == SPEND_CAP_EXCEEDED
    assert next_day.ok  # daily cap and daily budget are fresh 0.2 s later
    assert month_full.reason == SPEND_CAP_EXCEEDED  # 500 left today, but the month is full
    assert (old_day.user_day_nano, old_day.tenant_day_nano) == (1_000, 1_000)
    assert (new_day.user_day_nano, new_day.tenant_day_nano) == (500, 500)
    assert new_day.tenant_month_nano == 1_500


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("2026-11-30T23:59:59.9", "2026-12-01T00:00:00.1"),
        ("2026-12-31T23:59:59.9", "2027-01-01T00:00:00.1"),
    ],
)
def test_at_the_month_boundary_the_monthly_counter_starts_fresh(on_store, before, after):
    cap = {"tenant_monthly_cap_nano": 1_000}

    async def scenario(store):
        return [
            await reserve_and_settle(store, now=at(before), cost_nano=1_000, **cap),
            await store.reserve(request(now=at(before), cost_nano=1, **cap)),
            await store.reserve(request(now=at(after), cost_nano=1_000, **cap)),
            await store.spend(tenant_id=TENANT, user_id=USER, now=at(after)),
        ]

    last_month, full, new_month, view = on_store(scenario)
    assert last_month.ok
    assert full.reason == SPEND_CAP_EXCEEDED
    assert new_month.ok
    assert view.tenant_month_nano == 1_000


def test_denials_are_reported_rate_limit_first_then_cap_then_budget(on_store):
    tight = {
        "key_rpm": 1,
        "tenant_daily_cap_nano": 100,
        "user_daily_budget_nano": 100,
    }

    async def scenario(store):
        await store.reserve(request(cost_nano=0, **tight))  # fills the key's window
        all_fail = await store.reserve(request(cost_nano=500, **tight))
        other_key = {**tight, "key_id": 999}
        cap_and_budget = await store.reserve(request(cost_nano=500, **other_key))
        budget_only = await store.reserve(
            request(cost_nano=500, **{**other_key, "tenant_daily_cap_nano": 10_000})
        )
        return all_fail, cap_and_budget, budget_only

    all_fail, cap_and_budget, budget_only = on_store(scenario)
    assert all_fail.reason == RATE_LIMIT_EXCEEDED
    assert cap_and_budget.reason == SPEND_CAP_EXCEEDED
    assert budget_only.reason == BUDGET_EXCEEDED


def test_cap_is_checked_against_committed_spend_not_just_settled(on_store):
    cap = {"tenant_daily_cap_nano": 1_000, "now": NOW}

    async def scenario(store):
        held = await store.reserve(request(request_id="a", cost_nano=1_000, **cap))
        while_held = await store.reserve(request(cost_nano=100, **cap))
        await store.settle(tenant_id=TENANT, request_id="a", actual_nano=200)
        after_settle = await store.reserve(request(cost_nano=800, **cap))
        return held, while_held, after_settle

    held, while_held, after_settle = on_store(scenario)
    assert held.ok
    assert while_held.reason == SPEND_CAP_EXCEEDED
    assert after_settle.ok
