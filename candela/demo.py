"""First-start accounts: the operator (`candela bootstrap`) and the laptop demo.

The demo (`candela up`) is a tenant, its people, a provider, a model and a key.
Everything goes through the governance services, so the demo objects carry
their audit events like any other. A `demo.seeded` audit event is the marker:
it lives in the database being seeded, so the credentials are printed once per
database, and deleting the demo tenant later does not bring it back.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q

from audit.constants import EventKind
from audit.models import AuditEvent
from audit.services import record_event
from governance.constants import ProviderKind
from governance.services.keys import mint_key
from governance.services.providers import create_model_route, create_provider
from governance.services.tenants import create_tenant
from governance.services.users import create_user, issue_management_token
from tenants.constants import Role
from tenants.models import User

SEEDED_ACTION = "demo.seeded"
DEMO_TENANT_SLUG = "demo"
OPERATOR_USERNAME = "operator"
DEVELOPER_USERNAME = "developer"
DEMO_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class DemoCredentials:
    """What `candela up` prints once. `operator_password` is None for a reused operator."""

    operator_username: str
    operator_password: str | None
    management_token: str
    developer_username: str
    developer_password: str
    api_key: str
    model: str


def is_seeded() -> bool:
    return AuditEvent.objects.filter(action=SEEDED_ACTION).exists()


def ensure_operator() -> tuple[User, str | None]:
    """An operator account and its password, which is None unless it was just created.

    Prefers the account named `operator`, else the oldest active operator; creates
    `operator` with a random password when there is none. Never resets a password.
    """
    # A `createsuperuser` account counts: the API treats superusers as operators.
    operators = User.objects.filter(Q(role=Role.OPERATOR) | Q(is_superuser=True), is_active=True)
    existing = (
        operators.filter(username=OPERATOR_USERNAME).first() or operators.order_by("id").first()
    )
    if existing is not None:
        return existing, None
    username = OPERATOR_USERNAME
    if User.objects.filter(username=username).exists():  # taken by a non-operator
        username = f"{OPERATOR_USERNAME}-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    user = create_user(
        actor=None,
        email=f"{username}@candela.localhost",
        tenant=None,
        role=Role.OPERATOR,
        username=username,
        password=password,
    )
    return user, password


def bootstrap_operator() -> dict[str, str | None]:
    """`candela bootstrap`: an operator and a NEW management token on every call."""
    try:
        return _bootstrap_once()
    except IntegrityError:
        # A concurrent bootstrap created `operator` first; this time it is found.
        return _bootstrap_once()


def _bootstrap_once() -> dict[str, str | None]:
    with transaction.atomic():
        user, password = ensure_operator()
        _, token = issue_management_token(actor=user, user=user, name="bootstrap")
    return {"username": user.get_username(), "password": password, "token": token}


def seed_demo(*, provider_api_key: str = "") -> DemoCredentials | None:
    """Seed the demo objects unless this database was seeded before (then None).

    `provider_api_key` (an OpenAI key, optional) is stored encrypted on the demo
    provider so the demo key can reach OpenAI straight away.
    """
    with transaction.atomic():
        if is_seeded():
            return None
        operator, operator_password = ensure_operator()
        _, token = issue_management_token(actor=operator, user=operator, name="demo")
        tenant = create_tenant(actor=operator, name="Demo", slug=DEMO_TENANT_SLUG)
        developer_password = secrets.token_urlsafe(12)
        developer = create_user(
            actor=operator,
            email="developer@candela.localhost",
            tenant=tenant,
            role=Role.DEVELOPER,
            username=DEVELOPER_USERNAME,
            password=developer_password,
            daily_budget_usd=Decimal("5"),
        )
        provider = create_provider(
            actor=operator,
            name="openai",
            kind=ProviderKind.OPENAI,
            base_url="https://api.openai.com/v1",
            api_key=provider_api_key,
        )
        create_model_route(actor=operator, name=DEMO_MODEL, provider=provider)
        _, raw_key = mint_key(actor=operator, owner=developer, name="demo")
        record_event(kind=EventKind.ADMIN_ACTION, action=SEEDED_ACTION, actor=operator)
    return DemoCredentials(
        operator_username=operator.get_username(),
        operator_password=operator_password,
        management_token=token,
        developer_username=developer.get_username(),
        developer_password=developer_password,
        api_key=raw_key,
        model=DEMO_MODEL,
    )


def describe(creds: DemoCredentials, *, base_url: str) -> str:
    """The block `candela up` prints on first start."""
    password = creds.operator_password or "(existing account, password unchanged)"
    rows = [
        ("admin", f"{base_url}/admin/"),
        ("operator", f"{creds.operator_username} / {password}"),
        ("management token", creds.management_token),
        ("developer", f"{creds.developer_username} / {creds.developer_password}"),
        ("gateway key", f"{creds.api_key}   (model {creds.model})"),
        ("OpenAI SDK", f'OpenAI(base_url="{base_url}/v1", api_key="<gateway key>")'),
    ]
    lines = [f"  {label:<17} {value}" for label, value in rows]
    header = "Candela demo created. These secrets are shown ONCE; keep them."
    return "\n".join(["", header, *lines, ""])
