"""POST /v1/pii/scan: what the detector finds in a request, as types and counts.

A dry run: `{"messages": [...]}` (OpenAI shape; Anthropic `system` + content
blocks and Gemini `contents` are recognised too; `prompt`/`input` as well) →
`{"pii": {"EMAIL": 2}, "secrets": {"JWT": 1}}`. Never a value, no completion,
no charge, no rate-limit slot. Authenticated with a gateway key like every other
endpoint; it leaves one audit event (with the counts) and a zero-cost ledger row.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway.attribution import named_tenant
from gateway.body import ClientGone, Receive, parse_object, read_body
from gateway.context import RequestContext
from gateway.errors import Denial, invalid_request
from gateway.pii import scan_body
from gateway.pii_policy import PiiOutcome
from gateway.pipeline import Pipeline
from gateway.responses import JSON_TYPE, Send, request_id_header, send_bytes, send_denial
from governance.snapshot import KeyPolicy, PolicySnapshot, TenantPolicy

_ANTHROPIC_BLOCKS = frozenset(
    {"tool_use", "tool_result", "document", "thinking", "redacted_thinking", "search_result"}
)
_FIELDS = ("messages", "contents", "prompt", "input", "system", "systemInstruction")


def _has_anthropic_blocks(messages: list[Any]) -> bool:
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
            isinstance(block, dict) and block.get("type") in _ANTHROPIC_BLOCKS for block in content
        ):
            return True
    return False


def scan_format(body: dict[str, Any]) -> str:
    """Which client format the body is written in (400 when it holds nothing to scan)."""
    if not any(name in body for name in _FIELDS) and "system_instruction" not in body:
        raise invalid_request('Send the texts to scan: {"messages": [...]}.')
    for name in ("messages", "contents"):
        if name in body and not isinstance(body[name], list):
            raise invalid_request(f"'{name}' must be an array.")
    if "contents" in body or "systemInstruction" in body or "system_instruction" in body:
        return "gemini"
    if "system" in body or _has_anthropic_blocks(body.get("messages") or []):
        return "anthropic"
    return "openai"


class PiiScanEndpoint:
    def __init__(self, pipeline: Pipeline) -> None:
        self.p = pipeline

    def _tenant(
        self, key: KeyPolicy, headers: dict[bytes, bytes], snapshot: PolicySnapshot
    ) -> TenantPolicy | None:
        """The key's tenant; an operator key need not name one (nothing is billed)."""
        if key.tenant_id is None and named_tenant(headers) is None:
            return None
        return self.p.attribute(key, headers, snapshot)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        ctx = RequestContext.begin(scope, "pii.scan")
        try:
            rt = self.p.runtime
            snapshot = rt.policy.current()
            headers = dict(scope["headers"])
            key = ctx.key = self.p.authenticate(
                headers, scope["query_string"], snapshot, time.time()
            )
            ctx.tenant = self._tenant(key, headers, snapshot)
            raw = await read_body(receive, headers, rt.config.max_body_bytes)
            body = parse_object(raw)
            found = scan_body(body, scan_format(body))
            ctx.pii = PiiOutcome(mode="scan", found=found, action="scanned")
            answer = orjson.dumps({"pii": found.pii, "secrets": found.secrets})
            await send_bytes(send, 200, answer, [JSON_TYPE, request_id_header(ctx.request_id)])
        except Denial as denial:
            ctx.refuse(denial)
            await send_denial(send, denial, ctx.request_id)
        except ClientGone:
            ctx.status, ctx.decision, ctx.reason = 499, "denied", "client_disconnected"
        finally:
            ctx.finish()
            self.p.runtime.recorder.record(ctx)
