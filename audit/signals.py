"""Sign-ins, failed sign-ins and sign-outs become `auth` audit events.

Django sends these signals from its login/logout views and from `authenticate()`;
the request carries the id and client address the middleware attached.
A failed attempt records the username tried, never the password or other credentials.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from audit.constants import Decision, EventKind
from audit.services import record_event
from candela.request_context import RequestMeta, meta_from_request

USERNAME_LIMIT = 150


def _meta(request: Any) -> dict[str, str]:
    if request is None:
        return {}
    meta: RequestMeta = getattr(request, "meta", None) or meta_from_request(request)
    return {"request_id": meta.request_id, "ip": meta.ip}


def _tenant_of(user: Any) -> Any:
    return getattr(user, "tenant", None) if user is not None else None


def on_logged_in(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    record_event(
        kind=EventKind.AUTH,
        action="login",
        decision=Decision.ALLOWED,
        actor=user,
        tenant=_tenant_of(user),
        **_meta(request),
    )


def on_logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    # Logging out of an expired session still fires the signal, with no user.
    record_event(
        kind=EventKind.AUTH, action="logout", actor=user, tenant=_tenant_of(user), **_meta(request)
    )


def on_login_failed(
    sender: Any, credentials: dict[str, Any] | None = None, request: Any = None, **kwargs: Any
) -> None:
    model = get_user_model()
    username = str((credentials or {}).get(model.USERNAME_FIELD, ""))[:USERNAME_LIMIT]
    # The tenant of an existing account, so its admins see attempts on their users.
    known = model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()
    record_event(
        kind=EventKind.AUTH,
        action="login.failed",
        decision=Decision.DENIED,
        reason="invalid_credentials",
        actor_name=username,
        tenant=_tenant_of(known),
        data={"username": username, "account_exists": known is not None},
        **_meta(request),
    )


def connect() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="candela-audit-login")
    user_logged_out.connect(on_logged_out, dispatch_uid="candela-audit-logout")
    user_login_failed.connect(on_login_failed, dispatch_uid="candela-audit-login-failed")
