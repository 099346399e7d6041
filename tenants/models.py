"""Tenants (organisations), users with one role each, and management tokens."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from tenants.constants import PiiMode, PiiOnDetect, Region, Role

NON_NEGATIVE = [MinValueValidator(Decimal("0"))]


class Tenant(models.Model):
    """An organisation: its spend caps, alerting and data-handling defaults."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    daily_cap_usd = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True, validators=NON_NEGATIVE
    )
    monthly_cap_usd = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True, validators=NON_NEGATIVE
    )
    alert_threshold_pct = models.PositiveSmallIntegerField(
        default=80, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    pii_mode = models.CharField(max_length=16, choices=PiiMode.choices, default=PiiMode.OFF)
    pii_on_detect = models.CharField(
        max_length=16, choices=PiiOnDetect.choices, default=PiiOnDetect.ALLOW
    )
    data_residency = models.CharField(max_length=8, choices=Region.choices, blank=True)
    is_phi = models.BooleanField("handles PHI", default=False)
    baa_providers = models.JSONField(
        default=list, blank=True, help_text="Provider names covered by a BAA (required for PHI)."
    )
    alert_webhooks = models.JSONField(
        default=list, blank=True, help_text='[{"kind": "slack"|"teams", "url": "https://…"}]'
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.is_phi and not self.baa_providers:
            errors["is_phi"] = "A PHI tenant needs at least one BAA provider."
        if not isinstance(self.baa_providers, list) or not all(
            isinstance(name, str) for name in self.baa_providers
        ):
            errors["baa_providers"] = "A list of provider names."
        webhooks_ok = isinstance(self.alert_webhooks, list) and all(
            isinstance(hook, dict)
            and hook.get("kind") in {"slack", "teams"}
            and str(hook.get("url", "")).startswith(("http://", "https://"))
            for hook in self.alert_webhooks
        )
        if not webhooks_ok:
            errors["alert_webhooks"] = 'A list of {"kind": "slack"|"teams", "url": "https://…"}.'
        if errors:
            raise ValidationError(errors)


class CandelaUserManager(UserManager):
    def for_tenant(self, tenant: Tenant) -> models.QuerySet[User]:
        return self.filter(tenant=tenant)


class User(AbstractUser):
    """A person. Operators govern the platform; others belong to one tenant."""

    email = models.EmailField(unique=True)
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.DEVELOPER)
    history = HistoricalRecords()

    objects = CandelaUserManager()

    def clean(self) -> None:
        super().clean()
        if self.role != Role.OPERATOR and self.tenant_id is None:
            raise ValidationError({"tenant": "Tenant admins and developers belong to a tenant."})

    @property
    def is_operator(self) -> bool:
        return self.role == Role.OPERATOR or self.is_superuser

    @property
    def is_tenant_admin(self) -> bool:
        return self.role == Role.ADMIN


class ManagementTokenQuerySet(models.QuerySet):
    def active(self) -> ManagementTokenQuerySet:
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class ManagementToken(models.Model):
    """A bearer token for the REST API, acting as its user. Only a digest is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="management_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ManagementTokenQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
