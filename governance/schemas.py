"""API shapes for gateway keys, providers, model routes, prices and usage.

No output schema carries a stored secret: keys show their prefix, providers say
`has_api_key`. The raw key appears once, in `KeyCreated`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ninja import Schema
from pydantic import Field

from candela.api_types import Id, Input, Money, UtcDateTime
from governance.constants import ProviderKind
from tenants.constants import PiiMode, PiiOnDetect, Region

KEY_BLANK_FIELDS = ("data_residency", "pii_mode", "pii_on_detect")

# --- Keys ---------------------------------------------------------------------------------


class MyKeyIn(Input):
    name: str = Field(min_length=1, max_length=100)
    allowed_models: list[str] = Field(
        default_factory=list,
        description='Names or patterns ("gpt-4o*", "byo:*"); empty allows all.',
    )
    rate_limit_rpm: int | None = None
    data_residency: Region | None = None
    pii_mode: PiiMode | None = None
    pii_on_detect: PiiOnDetect | None = None
    expires_at: UtcDateTime | None = None


class KeyIn(MyKeyIn):
    user: Id = Field(description="Id of the user who owns the key.")


class KeyPatch(Input):
    name: str | None = None
    allowed_models: list[str] | None = None
    rate_limit_rpm: int | None = None
    data_residency: Region | None = None
    pii_mode: PiiMode | None = None
    pii_on_detect: PiiOnDetect | None = None
    expires_at: UtcDateTime | None = None


class KeyOut(Schema):
    id: int
    name: str
    prefix: str
    user: int = Field(alias="owner_id")
    tenant: str | None = Field(description="Tenant slug; null for an operator's key.")
    allowed_models: list[str]
    rate_limit_rpm: int | None
    data_residency: str | None
    pii_mode: str | None
    pii_on_detect: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime

    @staticmethod
    def resolve_tenant(obj) -> str | None:
        return obj.tenant.slug if obj.tenant_id else None

    @staticmethod
    def resolve_data_residency(obj) -> str | None:
        return obj.data_residency or None

    @staticmethod
    def resolve_pii_mode(obj) -> str | None:
        return obj.pii_mode or None

    @staticmethod
    def resolve_pii_on_detect(obj) -> str | None:
        return obj.pii_on_detect or None


class KeyCreated(KeyOut):
    key: str = Field(description="The gateway key; shown this once, never again.")


# --- Providers, model routes, prices -----------------------------------------------------


class ProviderIn(Input):
    name: str = Field(min_length=1, max_length=64)
    kind: ProviderKind
    base_url: str
    api_key: str = Field("", description="Write-only; stored encrypted.")
    region: Region = Region.US
    baa: bool = False
    monthly_budget_usd: Decimal | None = None
    hard_cap: bool = False
    priority: int = 100
    enabled: bool = True


class ProviderPatch(Input):
    kind: ProviderKind | None = None
    base_url: str | None = None
    api_key: str | None = Field(None, description='Write-only; "" removes the credential.')
    region: Region | None = None
    baa: bool | None = None
    monthly_budget_usd: Decimal | None = None
    hard_cap: bool | None = None
    priority: int | None = None
    enabled: bool | None = None


class ProviderOut(Schema):
    id: int
    name: str
    kind: str
    base_url: str
    has_api_key: bool = Field(alias="has_credential")
    region: str
    baa: bool
    monthly_budget_usd: Money | None
    hard_cap: bool
    priority: int
    enabled: bool
    created_at: datetime


class ModelIn(Input):
    name: str = Field(min_length=1, max_length=200)
    provider: str = Field(description="Provider name.")
    upstream_model: str = ""
    input_usd_per_mtok: Decimal | None = Field(
        None, description="Optional when the model is in the price table (GET /prices)."
    )
    output_usd_per_mtok: Decimal | None = None
    fallbacks: list[str] = Field(default_factory=list)


class ModelPatch(Input):
    upstream_model: str | None = None
    input_usd_per_mtok: Decimal | None = None
    output_usd_per_mtok: Decimal | None = None
    fallbacks: list[str] | None = None


class ModelOut(Schema):
    id: int
    name: str
    provider: str
    upstream_model: str
    input_usd_per_mtok: Money
    output_usd_per_mtok: Money
    fallbacks: list[str]
    created_at: datetime

    @staticmethod
    def resolve_provider(obj) -> str:
        return obj.provider.name


class PriceOut(Schema):
    model: str
    vendor: str
    input_usd_per_mtok: Money
    output_usd_per_mtok: Money


# --- Usage ----------------------------------------------------------------------------------


class UsageTotals(Schema):
    spend_usd: Money
    prompt_tokens: int
    completion_tokens: int
    requests: int
    refused: int


class UsageRow(UsageTotals):
    key: str | None = Field(
        description="Tenant slug, user email, model name or ISO day, per group_by."
    )
    id: int | None = Field(None, description="Tenant or user id when grouped by them.")


class UsageOut(Schema):
    group_by: str
    period: str
    since: datetime
    until: datetime
    items: list[UsageRow]
    count: int
    total: UsageTotals
