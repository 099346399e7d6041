"""The PII step: scan, redact or tokenize the parsed request before it goes anywhere.

It runs right after body parsing, before the model policy and the budget gate,
so a 422 costs no budget and no rate-limit slot. Cost: with mode `off` and
policy `allow` nothing is scanned; otherwise one pass (`scan_body`, `redact_body`
or `tokenize_body`) over the texts a provider would see, plus the egress re-scan
of the texts that pass changed.

Egress safety net: the replaced body is scanned again before it is forwarded.
A finding there means the first pass missed something (detection is partly
contextual: a long value replaced by a short placeholder can bring a keyword
within reach of a token that had none, e.g. `aws … <long JWT> <40-char key>`).
A PHI tenant's request is then refused with 422 `pii_blocked` (fail-closed,
nothing forwarded); anyone else's is redacted once more (failsafe) and an
`alert` audit event records the residual types and counts.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import orjson

from gateway.errors import Denial
from gateway.pii import (
    ScanResult,
    detect,
    iter_text_fields,
    redact_body,
    scan_body,
    tokenize_body,
)
from gateway.pii_policy import (
    NO_STORE,
    OFF,
    REDACT,
    REDACTED_HEADER,
    TOKENIZED_HEADER,
    PiiOutcome,
    PiiPolicy,
    judge,
    resolve,
)
from gateway.specs import ParsedRequest
from governance.snapshot import KeyPolicy, TenantPolicy

if TYPE_CHECKING:
    from gateway.context import RequestContext

log = logging.getLogger(__name__)


def _summary(found: ScanResult) -> str:
    """Types and counts for a log line (never values)."""
    return ",".join(f"{name}={n}" for name, n in sorted({**found.pii, **found.secrets}.items()))


def _rescan(original: dict, body: dict, fmt: str) -> ScanResult:
    """`scan_body(body)`, reading only the texts the first pass changed: the others were
    scanned as they are and held nothing (a long conversation with one e-mail address
    is not scanned twice)."""
    before, after = list(iter_text_fields(original, fmt)), list(iter_text_fields(body, fmt))
    if len(before) != len(after):  # the texts no longer line up: scan them all
        return scan_body(body, fmt)
    findings = []
    for old, new in zip(before, after, strict=True):
        if new is not old and new != old:
            findings += detect(new)
    return ScanResult.from_findings(findings)


class PiiStep:
    def __call__(
        self,
        ctx: RequestContext,
        *,
        headers: dict[bytes, bytes],
        key: KeyPolicy,
        tenant: TenantPolicy,
        request: ParsedRequest,
        fmt: str,
    ) -> ParsedRequest:
        """The request to forward (the same one when nothing changed); sets `ctx.pii`."""
        policy = resolve(headers, key, tenant)
        if policy.inert:
            return request
        body = request.body
        vault = None
        if policy.mode == OFF:
            new, found = body, scan_body(body, fmt)
        elif policy.mode == REDACT:
            new, found = redact_body(body, fmt)
        else:
            new, found, vault = tokenize_body(body, fmt)
        outcome = ctx.pii = PiiOutcome(
            mode=policy.mode, found=found, fail_closed=policy.fail_closed
        )
        judge(policy, outcome)
        if policy.mode == OFF:
            return request
        replaced = found.total
        if new is not body:
            new, replaced = self._egress(ctx, policy, outcome, body, new, fmt, replaced)
        count = str(replaced).encode()
        if policy.mode == REDACT:
            outcome.headers.append((REDACTED_HEADER, count))
        else:
            outcome.headers += [(TOKENIZED_HEADER, count), NO_STORE]
            outcome.vault = vault if vault else None
        if new is body:
            return request
        return dataclasses.replace(request, raw=orjson.dumps(new), body=new)

    def _egress(
        self,
        ctx: RequestContext,
        policy: PiiPolicy,
        outcome: PiiOutcome,
        original: dict,
        body: dict,
        fmt: str,
        replaced: int,
    ) -> tuple[dict, int]:
        """The safety net: re-scan what would be forwarded; (body, values replaced)."""
        residual = _rescan(original, body, fmt)
        if not residual:
            return body, replaced
        outcome.residual = residual
        log.warning(
            "request %s: %s left after %s (%s)",
            ctx.request_id,
            _summary(residual),
            policy.mode,
            "blocked, PHI tenant" if policy.fail_closed else "failsafe redaction",
        )
        if not policy.fail_closed:
            body, again = redact_body(body, fmt)
            if not scan_body(body, fmt):
                return body, replaced + again.total
        outcome.action = "egress_blocked"
        raise Denial(
            "pii_blocked",
            "PII or secrets remained in the request after "
            f"{'redaction' if policy.mode == REDACT else 'tokenization'}; "
            "it was refused to keep them from the provider. Nothing was forwarded.",
            reason="pii_residual",
        )
