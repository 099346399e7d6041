"""The management REST API: each app's router assembled under /api/v1."""

from __future__ import annotations

from ninja import NinjaAPI

from audit.api import router as audit_router
from candela.api_auth import EVERYONE, STAFF, auth_for
from candela.api_errors import document_errors, install_error_handlers
from governance import api as governance_api
from governance import people_api


class CandelaAPI(NinjaAPI):
    """The API, whose schema also documents the one error shape of every 4xx answer."""

    def get_openapi_schema(self, **kwargs):
        return document_errors(super().get_openapi_schema(**kwargs))


api = CandelaAPI(
    title="Candela management API",
    version="1",
    urls_namespace="api",
    description="Tenants, users, keys, providers, models, usage and the audit trail.",
    # Operators and tenant admins; developers are admitted to /me only.
    auth=auth_for(STAFF),
)
install_error_handlers(api)

api.add_router("/tenants", people_api.tenants_router)
api.add_router("/users", people_api.users_router)
api.add_router("/keys", governance_api.keys_router)
api.add_router("/providers", governance_api.providers_router)
api.add_router("/models", governance_api.models_router)
api.add_router("/prices", governance_api.prices_router)
api.add_router("/usage", governance_api.usage_router)
api.add_router("/audit", audit_router)
api.add_router("/me", people_api.me_router, auth=auth_for(EVERYONE))
api.add_router("/me", governance_api.me_router, auth=auth_for(EVERYONE))
