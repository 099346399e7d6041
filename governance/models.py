"""Governed objects: budgets, grants, API keys, providers, model routes, usage ledger."""

from __future__ import annotations

import fnmatch
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from governance.constants import ProviderKind
from tenants.constants import PiiMode, PiiOnDetect, Region

NON_NEGATIVE = [MinValueValidator(Decimal("0"))]
MONEY = {"max_digits": 14, "decimal_places": 6}


class Budget(models.Model):
    """A user's daily (UTC day) spend budget and request rate limit."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="budget"
    )
    daily_budget_usd = models.DecimalField(
        **MONEY,
        null=True,
        blank=True,
        validators=NON_NEGATIVE,
        help_text="Empty means no per-user daily limit.",
    )
    rate_limit_rpm = models.PositiveIntegerField(null=True, blank=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"budget of {self.user}"


class GrantQuerySet(models.QuerySet):
    def active_for(self, user, *, at=None) -> GrantQuerySet:
        at = at or timezone.now()
        return self.filter(user=user, expires_at__gt=at, remaining_usd__gt=0).order_by(
            "expires_at", "id"
        )


class Grant(models.Model):
    """An expiring bonus on top of the daily budget, spent soonest-expiry first."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="grants"
    )
    amount_usd = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0.000001"))])
    remaining_usd = models.DecimalField(**MONEY, validators=NON_NEGATIVE)
    expires_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    objects = GrantQuerySet.as_manager()

    class Meta:
        ordering = ["expires_at", "id"]

    def __str__(self) -> str:
        return f"grant ${self.amount_usd} to {self.user} until {self.expires_at:%Y-%m-%d}"

    def clean(self) -> None:
        if self._state.adding and self.expires_at and self.expires_at <= timezone.now():
            raise ValidationError({"expires_at": "A new grant must expire in the future."})


class ApiKeyQuerySet(models.QuerySet):
    def usable(self, *, at=None) -> ApiKeyQuerySet:
        at = at or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=at)
        )


class ApiKey(models.Model):
    """A gateway key (`ck-…`). Only its lookup prefix and SHA-256 digest are stored."""

    # Empty for operator-owned keys: those name the tenant to bill on every request.
    tenant = models.ForeignKey(
        "tenants.Tenant",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_keys",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    allowed_models = models.JSONField(
        default=list,
        blank=True,
        help_text='Patterns such as "gpt-4o*" or "byo:*"; empty allows all.',
    )
    rate_limit_rpm = models.PositiveIntegerField(null=True, blank=True)
    data_residency = models.CharField(max_length=8, choices=Region.choices, blank=True)
    pii_mode = models.CharField(max_length=16, choices=PiiMode.choices, blank=True)
    pii_on_detect = models.CharField(max_length=16, choices=PiiOnDetect.choices, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["digest"])

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def clean(self) -> None:
        patterns = self.allowed_models
        if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
            raise ValidationError({"allowed_models": "A list of model names or patterns."})

    def allows_model(self, model: str) -> bool:
        return not self.allowed_models or any(
            fnmatch.fnmatchcase(model, pattern) for pattern in self.allowed_models
        )


class Provider(models.Model):
    """An upstream LLM endpoint with its region, BAA status and monthly budget."""

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=24, choices=ProviderKind.choices)
    base_url = models.URLField(max_length=500)
    api_key_encrypted = models.TextField(blank=True, editable=False)
    region = models.CharField(max_length=8, choices=Region.choices, default=Region.US)
    baa = models.BooleanField("BAA signed", default=False)
    monthly_budget_usd = models.DecimalField(
        **MONEY, null=True, blank=True, validators=NON_NEGATIVE
    )
    hard_cap = models.BooleanField(default=False, help_text="Skip this provider once over budget.")
    priority = models.IntegerField(default=100, help_text="Lower is tried first.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["api_key_encrypted"])

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_credential(self) -> bool:
        return bool(self.api_key_encrypted)


class ModelRoute(models.Model):
    """A public model name served by one provider; the same name on several routes."""

    name = models.CharField(max_length=200, db_index=True)
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="routes")
    upstream_model = models.CharField(max_length=200, blank=True)
    input_usd_per_mtok = models.DecimalField(**MONEY, validators=NON_NEGATIVE)
    output_usd_per_mtok = models.DecimalField(**MONEY, validators=NON_NEGATIVE)
    fallbacks = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name", "provider__priority"]
        constraints = [
            models.UniqueConstraint(fields=["name", "provider"], name="unique_route_per_provider")
        ]

    def __str__(self) -> str:
        return f"{self.name} → {self.provider}"

    @property
    def effective_upstream_model(self) -> str:
        return self.upstream_model or self.name


class Price(models.Model):
    """Reference list prices (USD per million tokens) for well-known models."""

    model = models.CharField(max_length=200, unique=True)
    vendor = models.CharField(max_length=32)
    input_usd_per_mtok = models.DecimalField(**MONEY)
    output_usd_per_mtok = models.DecimalField(**MONEY)
    history = HistoricalRecords()

    class Meta:
        ordering = ["vendor", "model"]

    def __str__(self) -> str:
        return self.model


class UsageRecord(models.Model):
    """The durable spend ledger: one row per gateway request (served or refused)."""

    request_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    tenant_id = models.BigIntegerField(null=True, db_index=True)
    user_id = models.BigIntegerField(null=True, db_index=True)
    api_key_id = models.BigIntegerField(null=True)
    key_prefix = models.CharField(max_length=16, blank=True)
    model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    endpoint = models.CharField(max_length=64, blank=True)
    decision = models.CharField(max_length=16)
    reason = models.CharField(max_length=64, blank=True)
    status_code = models.PositiveSmallIntegerField(default=200)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(**MONEY, default=Decimal("0"))
    latency_ms = models.FloatField(default=0)
    streamed = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["tenant_id", "created_at"])]

    def __str__(self) -> str:
        return self.request_id


class AlertFired(models.Model):
    """A spend threshold that has fired for a target in a period; unique, so it fires once.

    target: "tenant:<id>:daily", "tenant:<id>:monthly" or "provider:<name>";
    period: the UTC day ("2026-11-25") or month ("2026-11") it belongs to.
    """

    target = models.CharField(max_length=120)
    threshold = models.PositiveSmallIntegerField(help_text="Percent of the limit.")
    period = models.CharField(max_length=10)
    tenant_id = models.BigIntegerField(null=True, blank=True)
    spend_usd = models.DecimalField(**MONEY)
    limit_usd = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["target", "threshold", "period"], name="alert_fires_once_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.target} {self.threshold}% {self.period}"
