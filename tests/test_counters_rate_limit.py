"""Sliding 60-second rate windows per key and per user, against both stores (time via `now`)."""

from __future__ import annotations

import functools

import pytest
from django.conf import settings
from test_counters_support import NOW, STORE_KINDS, request, run_scenario

from governance.counters.base import BUDGET_EXCEEDED, RATE_LIMIT_EXCEEDED, RateInfo


@pytest.fixture(params=STORE_KINDS)
def on_store(request, redis_client):
    return functools.partial(run_scenario, request.param, settings.REDIS_URL)


def test_key_window_allows_exactly_n_and_says_when_to_retry(on_store):
    async def scenario(store):
        allowed = [await store.reserve(request(now=NOW + i, key_rpm=5)) for i in range(5)]
        denied = await store.reserve(request(now=NOW + 10, key_rpm=5))
        return allowed, denied

    allowed, denied = on_store(scenario)
    assert all(result.ok for result in allowed)
    assert [result.rate.remaining for result in allowed] == [4, 3, 2, 1, 0]
    assert allowed[0].rate == RateInfo(limit=5, remaining=4, reset_seconds=60.0)
    assert allowed[4].rate.reset_seconds == pytest.approx(56.0)  # the first entry leaves at +60
    assert (denied.ok, denied.reason) == (False, RATE_LIMIT_EXCEEDED)
    assert denied.retry_after == pytest.approx(50.0)
    assert denied.rate == RateInfo(limit=5, remaining=0, reset_seconds=pytest.approx(50.0))


def test_window_slides_one_entry_at_a_time(on_store):
    async def scenario(store):
        for i in range(3):
            await store.reserve(request(now=NOW + i, key_rpm=3))
        return [
            await store.reserve(request(now=NOW + 59.9, key_rpm=3)),
            await store.reserve(request(now=NOW + 60, key_rpm=3)),
            await store.reserve(request(now=NOW + 60, key_rpm=3)),
            await store.reserve(request(now=NOW + 61.5, key_rpm=3)),
            await store.reserve(request(now=NOW + 121, key_rpm=3)),
            await store.reserve(request(now=NOW + 121, key_rpm=3)),
            await store.reserve(request(now=NOW + 121, key_rpm=3)),
        ]

    just_before, first_left, again_full, second_left, *at_121 = on_store(scenario)
    assert just_before.reason == RATE_LIMIT_EXCEEDED
    assert just_before.retry_after == pytest.approx(0.1)
    assert first_left.ok  # the entry from NOW left the window at NOW + 60
    assert again_full.reason == RATE_LIMIT_EXCEEDED
    assert again_full.retry_after == pytest.approx(1.0)  # the entry from NOW + 1 leaves next
    assert second_left.ok
    # At +121 only the entry from +61.5 is still inside: two more fit, not three.
    assert [r.ok for r in at_121] == [True, True, False]
    assert at_121[2].retry_after == pytest.approx(0.5)  # the entry from +61.5 leaves at +121.5


def test_user_window_covers_all_of_the_users_keys(on_store):
    async def scenario(store):
        mine = [
            await store.reserve(request(key_id=100 + i % 2, now=NOW + i, user_rpm=3))
            for i in range(4)
        ]
        other_user = await store.reserve(request(user_id=43, key_id=200, now=NOW + 4, user_rpm=3))
        return mine, other_user

    mine, other_user = on_store(scenario)
    assert [r.ok for r in mine] == [True, True, True, False]
    assert mine[3].reason == RATE_LIMIT_EXCEEDED
    assert mine[3].retry_after == pytest.approx(57.0)
    assert other_user.ok


def test_when_both_windows_are_full_retry_after_waits_for_both(on_store):
    limits = {"key_rpm": 2, "user_rpm": 3}

    async def scenario(store):
        await store.reserve(request(key_id=101, now=NOW, **limits))
        await store.reserve(request(key_id=100, now=NOW + 20, **limits))
        await store.reserve(request(key_id=100, now=NOW + 30, **limits))
        key_and_user_full = await store.reserve(request(key_id=100, now=NOW + 40, **limits))
        only_user_full = await store.reserve(request(key_id=102, now=NOW + 40, **limits))
        return key_and_user_full, only_user_full

    both, user_only = on_store(scenario)
    assert both.reason == RATE_LIMIT_EXCEEDED
    assert both.retry_after == pytest.approx(40.0)  # key 100's oldest (NOW + 20) leaves at +80
    assert user_only.retry_after == pytest.approx(20.0)  # the user's oldest (NOW) leaves at +60


def test_denied_requests_do_not_take_window_slots(on_store):
    async def scenario(store):
        budget_denied = [
            await store.reserve(request(now=NOW, key_rpm=2, cost_nano=10, user_daily_budget_nano=0))
            for _ in range(5)
        ]
        allowed = [await store.reserve(request(now=NOW + 1, key_rpm=2)) for _ in range(2)]
        rate_denied = [await store.reserve(request(now=NOW + 2 + i, key_rpm=2)) for i in range(5)]
        after = await store.reserve(request(now=NOW + 61, key_rpm=2))
        return budget_denied, allowed, rate_denied, after

    budget_denied, allowed, rate_denied, after = on_store(scenario)
    assert {r.reason for r in budget_denied} == {BUDGET_EXCEEDED}
    assert all(r.ok for r in allowed)
    assert {r.reason for r in rate_denied} == {RATE_LIMIT_EXCEEDED}
    assert after.ok  # the window holds only the two allowed requests, which left at +61


def test_rate_info_reports_the_tightest_window(on_store):
    async def scenario(store):
        first = await store.reserve(request(key_rpm=10, user_rpm=3))
        unlimited = await store.reserve(request(key_id=999))
        return first, unlimited

    first, unlimited = on_store(scenario)
    assert first.rate == RateInfo(limit=3, remaining=2, reset_seconds=60.0)
    assert unlimited.ok
    assert unlimited.rate is None
