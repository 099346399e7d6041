"""Providers (with encrypted credentials) and model routes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from audit.services import record_admin_action
from governance.crypto import encrypt
from governance.models import ModelRoute, Price, Provider
from governance.services.changes import apply_changes, diff, snapshot


def create_provider(*, actor, api_key: str = "", **fields: Any) -> Provider:
    with transaction.atomic():
        provider = Provider(**fields, api_key_encrypted=encrypt(api_key))
        provider.full_clean()
        provider.save()
        record_admin_action(
            actor=actor,
            action="provider.create",
            target=provider,
            changes=diff({}, snapshot(provider)),
        )
    return provider


def update_provider(
    *, actor, provider: Provider, api_key: str | None = None, **changes
) -> Provider:
    if api_key is not None:
        changes["api_key_encrypted"] = encrypt(api_key)
    with transaction.atomic():
        delta = apply_changes(provider, changes)
        if api_key is not None:
            delta["api_key"] = {"before": "***", "after": "***"}
        if delta:
            record_admin_action(
                actor=actor, action="provider.update", target=provider, changes=delta
            )
    return provider


def create_model_route(
    *,
    actor,
    name: str,
    provider: Provider,
    upstream_model: str = "",
    input_usd_per_mtok: Decimal | None = None,
    output_usd_per_mtok: Decimal | None = None,
    fallbacks: list[str] | None = None,
) -> ModelRoute:
    """Create a route; prices default to the shipped price table for known models."""
    if input_usd_per_mtok is None or output_usd_per_mtok is None:
        price = Price.objects.filter(model=upstream_model or name).first()
        if price is None:
            raise ValueError(
                f"no price given and {upstream_model or name!r} is not in the price table"
            )
        input_usd_per_mtok = (
            input_usd_per_mtok if input_usd_per_mtok is not None else price.input_usd_per_mtok
        )
        output_usd_per_mtok = (
            output_usd_per_mtok if output_usd_per_mtok is not None else price.output_usd_per_mtok
        )
    with transaction.atomic():
        route = ModelRoute(
            name=name,
            provider=provider,
            upstream_model=upstream_model,
            input_usd_per_mtok=input_usd_per_mtok,
            output_usd_per_mtok=output_usd_per_mtok,
            fallbacks=fallbacks or [],
        )
        route.full_clean()
        route.save()
        record_admin_action(
            actor=actor, action="model.create", target=route, changes=diff({}, snapshot(route))
        )
    return route


def update_model_route(*, actor, route: ModelRoute, **changes: Any) -> ModelRoute:
    with transaction.atomic():
        delta = apply_changes(route, changes)
        if delta:
            record_admin_action(actor=actor, action="model.update", target=route, changes=delta)
    return route
