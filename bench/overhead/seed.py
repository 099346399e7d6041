"""Seed a fresh Candela database for the benchmark; prints {"key": ...} as JSON.

    DATABASE_URL=... REDIS_URL=... python bench/overhead/seed.py --upstream http://127.0.0.1:PORT

Everything goes through the governance services, as an admin would create it:
a tenant with (large) daily and monthly caps, a developer with a (large) daily
budget and rate limit, two providers on the fake upstream (JSON and SSE paths),
a model route for each, and a key with an allowlist and its own rate limit. So
every check runs on every request (key, rate limits, allowlist, caps, budget,
audit) and none of them refuses during a 10 s run at thousands of requests/s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LARGE_USD = Decimal("1000000")
LARGE_RPM = 100_000_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT of nginx")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "candela.settings")
    import django

    django.setup()

    from governance.services.keys import mint_key
    from governance.services.providers import create_model_route, create_provider
    from governance.services.tenants import create_tenant
    from governance.services.users import create_user
    from tenants.constants import Role

    operator = create_user(actor=None, email="bench-op@bench.test", tenant=None, role=Role.OPERATOR)
    tenant = create_tenant(
        actor=operator,
        name="Bench",
        slug="bench",
        daily_cap_usd=LARGE_USD,
        monthly_cap_usd=LARGE_USD,
    )
    developer = create_user(
        actor=operator,
        email="bench-dev@bench.test",
        tenant=tenant,
        role=Role.DEVELOPER,
        daily_budget_usd=LARGE_USD,
        rate_limit_rpm=LARGE_RPM,
    )
    for name, path, model in (
        ("bench-json", "/v1", "bench-model"),
        ("bench-sse", "/sse/v1", "bench-model-stream"),
    ):
        provider = create_provider(
            actor=operator,
            name=name,
            kind="openai",
            base_url=args.upstream + path,
            api_key="sk-bench-upstream",
        )
        create_model_route(
            actor=operator,
            name=model,
            provider=provider,
            upstream_model="bench-model",
            input_usd_per_mtok=Decimal("0.15"),
            output_usd_per_mtok=Decimal("0.60"),
        )
    _, raw = mint_key(
        actor=operator,
        owner=developer,
        name="bench",
        allowed_models=["bench-*"],
        rate_limit_rpm=LARGE_RPM,
    )
    print(json.dumps({"key": raw}))


if __name__ == "__main__":
    main()
