"""Caps and budgets at the UTC day and month boundaries, through two real gateway processes
whose clock libfaketime moves: the tenant's daily cap and a user's daily budget start again at
midnight UTC; the monthly cap holds across days until the month ends. Requests alternate
between the processes, so the boundary is the same for both."""

from __future__ import annotations

import glob
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from gateway.estimate import chat_prompt_tokens
from governance.counters.base import nano_to_usd
from governance.services.tenants import update_tenant
from tests.gateway_harness import (
    auth,
    chat_body,
    make_user,
    reservation_nano,
    running_gateways,
    wait_for_records,
    wait_until,
)

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")
BODY = chat_body(max_tokens=20)
COST = reservation_nano(BODY)  # the fake reports the estimate's usage: actual == reserved


def _libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1")) + sorted(
        glob.glob("/usr/lib/faketime/libfaketime.so.1")
    )
    if not found:
        pytest.fail(
            "these tests move the gateways' clock with libfaketime: install it "
            "(Debian: apt-get install libfaketime; `make test` does it when run as root)"
        )
    return found[0]


class Clock:
    """The gateways' clock: an offset from real time in a file libfaketime re-reads."""

    CACHE_SECONDS = 1  # how long a process keeps the offset it read

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("+0\n")

    def set(self, gateways, when: datetime) -> None:
        """Move every gateway's clock to `when` (to the second) and wait until each uses it."""
        self.path.write_text(f"+{int(when.timestamp() - time.time())}\n")
        for gateway in gateways:
            # uvicorn's Date header is its clock, refreshed every second.
            moved = wait_until(lambda g=gateway: _clock_of(g) >= when, timeout=10)
            assert moved, f"gateway clock still at {_clock_of(gateway)}"
        gateways.sync()  # a clock jump may have timed out a policy read: wait for a fresh one


def _clock_of(gateway) -> datetime:
    response = httpx.get(gateway.url + "/v1/models", timeout=5)
    return parsedate_to_datetime(response.headers["date"])


@pytest.fixture(scope="module")
def clock(tmp_path_factory) -> Clock:
    return Clock(tmp_path_factory.mktemp("gw-clock") / "offset")


@pytest.fixture(scope="module")
def gateways(tmp_path_factory, django_db_setup, clock):
    overrides = {
        "LD_PRELOAD": _libfaketime(),
        "FAKETIME_TIMESTAMP_FILE": str(clock.path),
        "FAKETIME_CACHE_DURATION": str(Clock.CACHE_SECONDS),
    }
    with running_gateways(tmp_path_factory.mktemp("gw-periods"), count=2, **overrides) as running:
        yield running


@pytest.fixture
def cost_is_the_estimate(setup, gateway_defaults):
    # After gateway_defaults, which resets the fake.
    setup.fake.configure(prompt_tokens=chat_prompt_tokens(BODY), completion_tokens=20)


def _usd(nano: int) -> Decimal:
    return nano_to_usd(nano).quantize(Decimal("0.000001"))


def _send(gateways, raw: str, count: int) -> tuple[list[tuple[int, str]], list[str]]:
    """`count` requests, alternating between the gateways: (status, error code) each, and
    their request ids."""
    outcomes, ids = [], []
    for i in range(count):
        response = httpx.post(
            gateways[i % len(gateways)].url + "/v1/chat/completions",
            json=BODY,
            headers=auth(raw),
            timeout=10,
        )
        code = "" if response.status_code == 200 else response.json()["error"]["code"]
        outcomes.append((response.status_code, code))
        ids.append(response.headers["x-candela-request-id"])
    return outcomes, ids


def _served_per_day(request_ids: list[str]) -> Counter:
    rows = wait_for_records(request_ids)
    return Counter(r.created_at.date().isoformat() for r in rows if r.decision == "allowed")


@pytest.mark.usefixtures("cost_is_the_estimate")
def test_daily_cap_restarts_at_utc_midnight_and_monthly_cap_at_the_month_end(
    gateways, clock, setup, operator, tenant_a
):
    user = make_user(operator, tenant_a, "periods-cap@acme.test")
    _, raw = setup.key(user)
    update_tenant(
        actor=operator,
        tenant=tenant_a,
        daily_cap_usd=_usd(2 * COST),
        monthly_cap_usd=_usd(3 * COST),
    )
    gateways.sync()
    ok, capped = (200, ""), (402, "spend_cap_exceeded")
    ids = []

    clock.set(gateways, datetime(2027, 1, 30, 23, 59, 50, tzinfo=UTC))
    statuses, more = _send(gateways, raw, 3)
    assert statuses == [ok, ok, capped]  # the day's cap
    ids += more

    clock.set(gateways, datetime(2027, 1, 31, 0, 0, 5, tzinfo=UTC))
    statuses, more = _send(gateways, raw, 2)
    assert statuses == [ok, capped]  # a new day, but the month's cap is reached
    ids += more

    clock.set(gateways, datetime(2027, 2, 1, 0, 0, 5, tzinfo=UTC))
    statuses, more = _send(gateways, raw, 3)
    assert statuses == [ok, ok, capped]  # a new month: the day's cap again
    ids += more

    assert _served_per_day(ids) == {"2027-01-30": 2, "2027-01-31": 1, "2027-02-01": 2}
    assert setup.fake.request_count == 5  # refused requests never reached the provider


@pytest.mark.usefixtures("cost_is_the_estimate")
def test_a_users_daily_budget_restarts_at_utc_midnight(gateways, clock, setup, operator, tenant_b):
    user = make_user(operator, tenant_b, "periods-budget@acme.test", daily_budget_usd=_usd(COST))
    _, raw = setup.key(user)
    gateways.sync()
    ok, spent = (200, ""), (402, "budget_exceeded")

    clock.set(gateways, datetime(2027, 3, 14, 23, 59, 50, tzinfo=UTC))
    before, first_ids = _send(gateways, raw, 2)
    clock.set(gateways, datetime(2027, 3, 15, 0, 0, 5, tzinfo=UTC))
    after, second_ids = _send(gateways, raw, 2)

    assert (before, after) == ([ok, spent], [ok, spent])
    assert _served_per_day(first_ids + second_ids) == {"2027-03-14": 1, "2027-03-15": 1}
