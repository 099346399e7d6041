"""No detected value reaches a log line, an audit event or a ledger row.

A gateway runs at log level DEBUG while requests full of PII and secrets go
through every mode and policy, streamed and not, the scan endpoint and the
egress safety net; then its whole output and every stored row are searched.
"""

from __future__ import annotations

import json

import httpx
import pytest
from django.forms.models import model_to_dict

from audit.models import AuditEvent
from tests.gateway_harness import (
    PII_SAMPLES,
    auth,
    chat_body,
    fake_aws_secret,
    fake_jwt,
    fake_secrets,
    running_gateways,
    sse_events,
    wait_for_records,
)

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")

POLICIES = ("allow", "warn", "require_ack", "block")


def _needles(values: list[str]) -> list[str]:
    """Each value, and each line of a multi-line one (a PEM's lines)."""
    return [line for v in values for line in v.splitlines() if len(line) >= 8]


def test_nothing_detected_is_logged_or_stored(tmp_path, setup, dev_a, fake):
    secrets = fake_secrets()
    jwt, aws_secret = fake_jwt(claims_padding=150), fake_aws_secret()
    values = [*PII_SAMPLES.values(), *secrets.values(), jwt, aws_secret]
    prompt = " | ".join([*PII_SAMPLES.values(), *secrets.values()])
    keys = {
        (mode, policy): setup.key(
            dev_a, name=f"{mode}-{policy}", pii_mode=mode, pii_on_detect=policy
        )[1]
        for mode in ("off", "redact", "tokenize")
        for policy in POLICIES
    }
    with running_gateways(tmp_path, CANDELA_LOG_LEVEL="DEBUG") as gateways:
        gateways.sync()
        url = gateways.url + "/v1/chat/completions"
        ids = []

        def call(raw: str, body: dict, path: str = url, **headers) -> httpx.Response:
            response = httpx.post(path, json=body, headers={**auth(raw), **headers}, timeout=10)
            ids.append(response.headers["x-candela-request-id"])
            return response

        for raw in keys.values():
            call(raw, chat_body(prompt))
            call(raw, chat_body(prompt), **{"x-candela-pii-ack": "true"})
            with httpx.stream(
                "POST", url, json=chat_body(prompt, stream=True), headers=auth(raw), timeout=10
            ) as response:
                ids.append(response.headers["x-candela-request-id"])
                sse_events(response)
        tokenize = keys[("tokenize", "allow")]
        call(tokenize, chat_body(prompt), **{"x-candela-pii-mode": "nonsense"})
        residual = call(keys[("redact", "warn")], chat_body(f"aws session {jwt} {aws_secret}"))
        assert residual.status_code == 200
        scan = {"messages": [{"role": "user", "content": prompt}]}
        assert call(tokenize, scan, gateways.url + "/v1/pii/scan").status_code == 200
        # A tokenized answer carries the values back to the client, as it should.
        restored = call(tokenize, chat_body(prompt)).json()["choices"][0]["message"]["content"]
        assert PII_SAMPLES["EMAIL"] in restored
    log = gateways[0].log_path.read_text(errors="replace")

    # The log was really captured at DEBUG: the safety net's warning is there, types only.
    assert " DEBUG " in log
    assert "AWS_SECRET_KEY=1 left after redact (failsafe redaction)" in log
    assert [n for n in _needles(values) if n in log] == []
    rows = wait_for_records(ids)
    assert len(rows) == len(ids)
    events = list(AuditEvent.objects.all())
    assert len(events) >= len(ids) + 1  # one per request, plus the residual's alert
    stored = json.dumps(
        [model_to_dict(e) for e in events] + [model_to_dict(r) for r in rows], default=str
    )
    assert [n for n in _needles(values) if n in stored] == []
    # ... while the events do say what was found.
    assert any(e.data.get("secrets", {}).get("PRIVATE_KEY") == 1 for e in events)
