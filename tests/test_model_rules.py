"""Validation rules on governed models, as the admin and API enforce them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from governance.services.grants import create_grant
from governance.services.keys import mint_key
from governance.services.tenants import create_tenant, update_tenant
from tenants.tokens import digest_secret, is_well_formed

pytestmark = pytest.mark.django_db


def test_phi_tenant_needs_baa_providers(operator):
    with pytest.raises(ValidationError) as excinfo:
        create_tenant(actor=operator, name="Clinic", slug="clinic", is_phi=True)
    assert "is_phi" in excinfo.value.message_dict
    tenant = create_tenant(
        actor=operator, name="Clinic", slug="clinic", is_phi=True, baa_providers=["azure-us"]
    )
    assert tenant.is_phi


def test_negative_caps_are_rejected(operator, tenant_a):
    with pytest.raises(ValidationError) as excinfo:
        update_tenant(actor=operator, tenant=tenant_a, daily_cap_usd=Decimal("-1"))
    assert "daily_cap_usd" in excinfo.value.message_dict


def test_expired_grant_is_rejected_on_creation(operator, dev_a):
    with pytest.raises(ValidationError):
        create_grant(
            actor=operator,
            user=dev_a,
            amount_usd=Decimal("5"),
            expires_at=timezone.now() - timedelta(minutes=1),
        )


def test_key_is_stored_hashed_and_shown_once(operator, dev_a):
    key, raw = mint_key(actor=operator, owner=dev_a, name="ci", allowed_models=["gpt-4o*", "byo:*"])
    assert is_well_formed(raw, "ck")
    assert key.digest == digest_secret(raw)
    assert raw not in str(key.__dict__.values())
    assert key.allows_model("gpt-4o-mini") and key.allows_model("byo:local")
    assert not key.allows_model("claude-sonnet-4-0")
