"""The per-module setup gateway test modules share: their gateway processes, the
user who calls them, SDK clients pointed at them, and the exact-cost check.

Fixtures are made by factories so each module keeps its own temp dir name,
gateway options and user email: `gateways = gateways_fixture("gw-x", count=2)`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anthropic
import openai
import pytest

from governance.counters.base import cost_nano
from tests.gateway_harness import (
    PRICE_IN,
    PRICE_OUT,
    make_user,
    running_gateways,
    spend,
    usd,
    wait_for_records,
    wait_until,
)


def gateways_fixture(temp_name: str, **options: Any):
    """A module-scoped `gateways` fixture: `running_gateways(**options)` in a temp dir."""

    @pytest.fixture(scope="module")
    def gateways(tmp_path_factory, django_db_setup):
        with running_gateways(tmp_path_factory.mktemp(temp_name), **options) as running:
            yield running

    return gateways


def user_fixture(email: str):
    """A `user` fixture: a developer of tenant_a with a 1 USD daily budget."""

    @pytest.fixture
    def user(operator, tenant_a):
        return make_user(operator, tenant_a, email, daily_budget_usd=Decimal("1"))

    return user


def openai_client(gateways, raw: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateways.url + "/v1", api_key=raw, max_retries=0)


def anthropic_client(gateways, raw: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateways.url, api_key=raw, max_retries=0)


def assert_charged(request_id: str, tenant, user) -> None:
    """The ledger row and the counters hold the exact cost of the provider's usage."""
    (row,) = wait_for_records([request_id])
    exact = cost_nano(row.prompt_tokens, row.completion_tokens, PRICE_IN, PRICE_OUT)
    assert row.cost_usd == usd(exact) and exact > 0
    assert wait_until(lambda: spend(tenant.id, user.id).user_day_nano == exact)
