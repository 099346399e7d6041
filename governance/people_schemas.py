"""Schemas for tenants, users, grants and management tokens."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from ninja import Schema
from pydantic import Field

from candela.api_types import Filter, Id, Input, Money, Text, UtcDateTime, fields_of  # noqa: F401
from tenants.constants import PiiMode, PiiOnDetect, Region, Role


class WebhookIn(Input):
    kind: Literal["slack", "teams"]
    url: str


class WebhookOut(Schema):
    kind: str
    url: str


class TenantIn(Input):
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(min_length=1, max_length=64)
    daily_cap_usd: Decimal | None = None
    monthly_cap_usd: Decimal | None = None
    alert_threshold_pct: int = 80
    pii_mode: PiiMode = PiiMode.OFF
    pii_on_detect: PiiOnDetect = PiiOnDetect.ALLOW
    data_residency: Region | None = None
    is_phi: bool = False
    baa_providers: list[str] = []
    alert_webhooks: list[WebhookIn] = []


class TenantPatch(Input):
    name: str | None = None
    slug: str | None = None
    daily_cap_usd: Decimal | None = None
    monthly_cap_usd: Decimal | None = None
    alert_threshold_pct: int | None = None
    pii_mode: PiiMode | None = None
    pii_on_detect: PiiOnDetect | None = None
    data_residency: Region | None = None
    is_phi: bool | None = None
    baa_providers: list[str] | None = None
    alert_webhooks: list[WebhookIn] | None = None


class TenantOut(Schema):
    id: int
    name: str
    slug: str
    daily_cap_usd: Money | None
    monthly_cap_usd: Money | None
    alert_threshold_pct: int
    pii_mode: str
    pii_on_detect: str
    data_residency: str | None
    is_phi: bool
    baa_providers: list[str]
    alert_webhooks: list[WebhookOut]
    created_at: datetime

    @staticmethod
    def resolve_data_residency(obj) -> str | None:
        return obj.data_residency or None


# --- Users -----------------------------------------------------------------------


class UserIn(Input):
    email: str = Field(min_length=3, max_length=254)
    tenant: str | None = Field(None, description="Tenant slug; tenant admins may omit it.")
    role: Role = Role.DEVELOPER
    daily_budget_usd: Decimal | None = None
    rate_limit_rpm: int | None = None
    password: str | None = Field(None, min_length=8, description="Write-only, for /me/ login.")


class UserPatch(Input):
    email: str | None = None
    role: Role | None = None
    is_active: bool | None = None
    daily_budget_usd: Decimal | None = None
    rate_limit_rpm: int | None = None


class UserOut(Schema):
    id: int
    email: str
    username: str
    tenant: str | None
    role: str
    is_active: bool
    daily_budget_usd: Money | None
    rate_limit_rpm: int | None
    created_at: datetime = Field(alias="date_joined")

    @staticmethod
    def resolve_tenant(obj) -> str | None:
        return obj.tenant.slug if obj.tenant_id else None

    # A missing reverse one-to-one raises a subclass of AttributeError, hence getattr.
    @staticmethod
    def resolve_daily_budget_usd(obj) -> Decimal | None:
        budget = getattr(obj, "budget", None)
        return budget.daily_budget_usd if budget else None

    @staticmethod
    def resolve_rate_limit_rpm(obj) -> int | None:
        budget = getattr(obj, "budget", None)
        return budget.rate_limit_rpm if budget else None


# --- Grants and management tokens ----------------------------------------------------


class GrantIn(Input):
    amount_usd: Decimal
    expires_at: UtcDateTime
    reason: str = Field("", max_length=200)


class GrantOut(Schema):
    id: int
    user: int = Field(alias="user_id")
    amount_usd: Money
    remaining_usd: Money
    expires_at: datetime
    reason: str
    created_at: datetime


class TokenIn(Input):
    name: str = Field("", max_length=100)


class TokenOut(Schema):
    id: int
    user: int = Field(alias="user_id")
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The management token; shown this once.")
