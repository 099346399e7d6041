"""Tenant attribution: which tenant a request bills.

A tenant key bills its own tenant and may only name that one (403
`tenant_mismatch` otherwise). An operator key belongs to no tenant and must
name one, by id or slug, in `X-Candela-Tenant-Id` or W3C baggage
`candela.tenant_id=…`; the header wins when both are sent.
"""

from __future__ import annotations

from urllib.parse import unquote

from gateway.errors import Denial, invalid_request
from governance.snapshot import KeyPolicy, PolicySnapshot, TenantPolicy

TENANT_HEADER = b"x-candela-tenant-id"
BAGGAGE_HEADER = b"baggage"
BAGGAGE_KEY = "candela.tenant_id"


def baggage_value(baggage: str, wanted: str) -> str | None:
    """One member of a W3C baggage header (`k=v;prop, k2=v2`), percent-decoded."""
    for member in baggage.split(","):
        name, sep, rest = member.partition("=")
        if sep and name.strip() == wanted:
            return unquote(rest.split(";", 1)[0].strip())
    return None


def named_tenant(headers: dict[bytes, bytes]) -> str | None:
    header = headers.get(TENANT_HEADER)
    if header is not None and header.strip():
        return header.strip().decode("latin-1")
    baggage = headers.get(BAGGAGE_HEADER)
    if baggage is not None:
        value = baggage_value(baggage.decode("latin-1"), BAGGAGE_KEY)
        if value:
            return value
    return None


class Attribution:
    def __call__(
        self, key: KeyPolicy, headers: dict[bytes, bytes], snapshot: PolicySnapshot
    ) -> TenantPolicy:
        ref = named_tenant(headers)
        if key.tenant_id is not None:
            own = snapshot.tenants_by_id.get(key.tenant_id)
            if own is None:
                raise Denial("invalid_api_key", "This API key's tenant no longer exists.")
            if ref is not None and snapshot.tenant_named(ref) is not own:
                raise Denial("tenant_mismatch", "This API key may only bill its own tenant.")
            return own
        if ref is None:
            raise invalid_request(
                "An operator key must name the tenant to bill: send 'X-Candela-Tenant-Id: "
                "<tenant id or slug>' or baggage 'candela.tenant_id=<tenant id or slug>'."
            )
        tenant = snapshot.tenant_named(ref)
        if tenant is None:
            raise invalid_request(f"No tenant {ref!r}: name a tenant by its id or slug.")
        return tenant
