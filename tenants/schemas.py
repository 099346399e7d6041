"""API shapes for tenants, users, grants and management tokens (plus shared field types).

Money is a decimal string ("0.25"); times are ISO 8601 UTC; a naive time is read as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Literal, TypeVar

from ninja import Schema
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

from tenants.constants import PiiMode, PiiOnDetect, Region, Role


def money_text(value: Decimal) -> str:
    """ "10.000000" → "10.00", "0.250000" → "0.25", "0.000125" stays."""
    whole, _, fraction = f"{value:f}".partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _blank_is_none(value: object) -> object:
    return None if value == "" else value


def storable(value: str) -> str:
    """Text the database can hold: PostgreSQL refuses NUL, UTF-8 refuses lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\x00) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text") from exc
    return value


def _storable_deep(value: object) -> object:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list | tuple):
        for item in value:
            _storable_deep(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable_deep(key)
            _storable_deep(item)
    return value


T = TypeVar("T")
Money = Annotated[Decimal, PlainSerializer(money_text, return_type=str)]
UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]
# A query filter where `?kind=` (as HTML forms and URL builders send) means "no filter".
Filter = Annotated[T | None, BeforeValidator(_blank_is_none)]
# Free text in a query or path: refused (422) when the database could not even compare it.
Text = Annotated[str, AfterValidator(storable)]
# Object ids fit PostgreSQL's bigint; a larger number is a 422, not a database error.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class Input(Schema):
    """A request body: an unknown field is a 422, so a typo never silently drops a policy."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: object) -> object:
        return _storable_deep(value)


def fields_of(payload: Schema, *, partial: bool = False, blank: tuple[str, ...] = ()) -> dict:
    """A payload as model field values: enums as plain strings; `blank` fields map
    null to "" (the models store an unset choice as "", the API speaks null);
    `partial` keeps only what the client sent (PATCH)."""
    values = payload.model_dump(exclude_unset=partial)
    for name, value in values.items():
        if isinstance(value, Enum):
            values[name] = value.value
        elif value is None and name in blank:
            values[name] = ""
    return values


# --- Tenants -------------------------------------------------------------------


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
