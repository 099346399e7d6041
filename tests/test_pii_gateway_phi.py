"""The egress safety net: what redaction missed is caught before it leaves.

The residual is real, not simulated: an AWS secret key is only recognised
within 160 characters after an `aws`/`secret` keyword. Here the keyword is
separated from a 40-character key by a long JWT, so the first pass finds the
JWT alone; replacing it with its short placeholder brings the keyword within
reach, and the re-scan of the outbound body finds the key.
"""

from __future__ import annotations

import httpx
import pytest

from audit.models import AuditEvent
from audit.services import verify_chain
from governance.services.providers import update_provider
from governance.services.tenants import update_tenant
from tests.gateway_harness import (
    PII_SAMPLES,
    auth,
    chat_body,
    events_for,
    fake_aws_secret,
    fake_jwt,
    spend,
    wait_for_records,
    wait_until,
)
from tests.gateway_world import gateways_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")


gateways = gateways_fixture("gw-pii-phi")


@pytest.fixture
def hidden() -> tuple[str, str, str]:
    """(prompt, jwt, aws secret): the secret hides behind the JWT's length."""
    jwt, secret = fake_jwt(claims_padding=150), fake_aws_secret()
    assert len(jwt) > 200
    return f"aws session {jwt} {secret}", jwt, secret


def _post(gateways, raw: str, prompt: str) -> httpx.Response:
    return httpx.post(
        gateways.url + "/v1/chat/completions", json=chat_body(prompt), headers=auth(raw), timeout=10
    )


def _alerts(request_id: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(request_id=request_id, kind="alert"))


@pytest.mark.parametrize("mode", ["redact", "tokenize"])
def test_residual_is_failsafe_redacted_with_an_alert(gateways, setup, dev_a, fake, hidden, mode):
    prompt, jwt, secret = hidden
    _, raw = setup.key(dev_a, pii_mode=mode)
    gateways.sync()
    response = _post(gateways, raw, prompt)
    assert response.status_code == 200, response.text
    (sent,) = fake.requests
    assert jwt not in sent.text and secret not in sent.text
    first = "[JWT_REDACTED]" if mode == "redact" else "<JWT_1>"
    assert sent.json["messages"][0]["content"] == f"aws session {first} [AWS_SECRET_KEY_REDACTED]"
    header = "x-candela-pii-redacted" if mode == "redact" else "x-candela-pii-tokenized"
    assert response.headers[header] == "2"
    if mode == "tokenize":  # the JWT comes back; the failsafe redaction does not
        content = response.json()["choices"][0]["message"]["content"]
        assert content == f"echo: aws session {jwt} [AWS_SECRET_KEY_REDACTED]"
    request_id = response.headers["x-candela-request-id"]
    wait_for_records([request_id])
    (event,) = events_for([request_id])
    assert event.data["secrets"] == {"JWT": 1}
    assert event.data["pii_residual"] == {"AWS_SECRET_KEY": 1}
    (alert,) = wait_until(lambda: _alerts(request_id))
    assert (alert.action, alert.decision, alert.reason) == (
        "pii.egress_redacted",
        "allowed",
        "pii_residual",
    )
    assert alert.data == {
        "pii": {},
        "secrets": {"AWS_SECRET_KEY": 1},
        "pii_mode": mode,
        "fail_closed": False,
    }
    assert (alert.tenant_id, alert.key_prefix) == (dev_a.tenant_id, event.key_prefix)
    assert alert.id == event.id + 1  # right after its request in the chain
    assert verify_chain().ok


def test_phi_tenant_fails_closed_on_a_residual(
    gateways, setup, dev_a, fake, hidden, operator, tenant_a
):
    update_provider(actor=operator, provider=setup.provider, baa=True)
    update_tenant(
        actor=operator, tenant=tenant_a, is_phi=True, baa_providers=["fake-openai"],
        pii_mode="redact",
    )  # fmt: skip
    _, raw = setup.key(dev_a)
    gateways.sync()
    prompt, jwt, secret = hidden
    response = _post(gateways, raw, prompt)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "pii_blocked"
    assert jwt not in response.text and secret not in response.text
    assert fake.requests == []  # nothing forwarded
    assert spend(tenant_a.id, dev_a.id).user_day_nano == 0
    request_id = response.headers["x-candela-request-id"]
    (row,) = wait_for_records([request_id])
    assert (row.decision, row.reason, row.cost_usd) == ("denied", "pii_residual", 0)
    (alert,) = wait_until(lambda: _alerts(request_id))
    assert (alert.action, alert.decision) == ("pii.egress_blocked", "denied")
    assert alert.data["fail_closed"] is True

    # What redaction does remove still goes through for the PHI tenant.
    clean = f"patient {PII_SAMPLES['SSN']} at {PII_SAMPLES['EMAIL']}"
    response = _post(gateways, raw, clean)
    assert response.status_code == 200
    assert fake.requests[0].json["messages"][0]["content"] == (
        "patient [SSN_REDACTED] at [EMAIL_REDACTED]"
    )
    request_id = response.headers["x-candela-request-id"]
    wait_for_records([request_id])
    assert _alerts(request_id) == []
