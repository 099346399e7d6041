"""How the PII mode and on-detect policy are chosen for one request."""

from __future__ import annotations

import pytest

from gateway.pii_policy import resolve
from governance.snapshot import KeyPolicy, OwnerPolicy, TenantPolicy


def _tenant(*, mode="", on_detect="", phi=False) -> TenantPolicy:
    return TenantPolicy(
        id=1,
        slug="acme",
        name="Acme",
        daily_cap_nano=None,
        monthly_cap_nano=None,
        alert_threshold_pct=80,
        pii_mode=mode,
        pii_on_detect=on_detect,
        data_residency="",
        is_phi=phi,
        baa_providers=("azure-us",) if phi else (),
    )


def _key(*, mode="", on_detect="") -> KeyPolicy:
    owner = OwnerPolicy(
        id=1,
        username="dev",
        tenant_id=1,
        role="developer",
        active=True,
        daily_budget_nano=None,
        rate_limit_rpm=None,
        grants=(),
    )
    return KeyPolicy(
        id=1,
        prefix="ck-abc",
        name="k",
        tenant_id=1,
        owner=owner,
        allowed_models=(),
        rate_limit_rpm=None,
        data_residency="",
        pii_mode=mode,
        pii_on_detect=on_detect,
        expires_at=None,
        revoked=False,
    )


@pytest.mark.parametrize(
    ("header", "key_mode", "tenant_mode", "expected"),
    [
        (None, "", "redact", "redact"),
        (None, "tokenize", "redact", "tokenize"),
        (b"off", "tokenize", "redact", "off"),
        (b"redact", "", "", "redact"),
    ],
)
def test_header_beats_key_beats_tenant(header, key_mode, tenant_mode, expected):
    headers = {b"x-candela-pii-mode": header} if header else {}
    policy = resolve(headers, _key(mode=key_mode), _tenant(mode=tenant_mode))
    assert policy.mode == expected


def test_phi_tenant_cannot_switch_protection_off_per_request():
    headers = {b"x-candela-pii-mode": b"off"}
    policy = resolve(headers, _key(), _tenant(mode="redact", phi=True))
    assert policy.mode == "redact" and policy.fail_closed
    tokenized = resolve(
        {b"x-candela-pii-mode": b"tokenize"}, _key(), _tenant(mode="redact", phi=True)
    )
    assert tokenized.mode == "tokenize"


def test_on_detect_policy_ignores_request_headers():
    headers = {b"x-candela-pii-mode": b"off", b"x-candela-pii-ack": b"true"}
    policy = resolve(headers, _key(), _tenant(on_detect="block"))
    assert policy.on_detect == "block" and policy.acknowledged
