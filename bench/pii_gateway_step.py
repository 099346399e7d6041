"""What the gateway's PII step adds to a request, measured in-process.

    uv run python bench/pii_gateway_step.py [--n 5000]

Runs `gateway.pii_step.PiiStep` (policy resolution, scan / redact / tokenize,
the egress re-scan, the response headers) on a 2 KB OpenAI chat request with
two PII values, once per mode, and the tokenize-mode response side
(`gateway.pii_restore`): a whole reply and a stream of small delta events.
Prints a markdown table of CPU microseconds on one thread (median and p99),
minus the cost of creating the request context the step needs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "candela.settings")

import django  # noqa: E402

django.setup()

import orjson  # noqa: E402

from gateway.context import RequestContext  # noqa: E402
from gateway.pii import engine_name  # noqa: E402
from gateway.pii_restore import ReplyRestore  # noqa: E402
from gateway.pii_step import PiiStep  # noqa: E402
from gateway.specs import CHAT  # noqa: E402
from governance.snapshot import KeyPolicy, OwnerPolicy, TenantPolicy  # noqa: E402

PROSE = (
    "The quarterly report covers revenue, churn and the roadmap for version 2.4 of the "
    "billing service; the migration finished at 14:32 and 99.5% of jobs passed. "
)
OWNER = OwnerPolicy(
    id=1, username="u", tenant_id=1, role="developer", active=True,
    daily_budget_nano=None, rate_limit_rpm=None, grants=(),
)  # fmt: skip
TENANT = TenantPolicy(
    id=1, slug="t", name="t", daily_cap_nano=None, monthly_cap_nano=None,
    alert_threshold_pct=80, pii_mode="off", pii_on_detect="allow", data_residency="",
    is_phi=False, baa_providers=(),
)  # fmt: skip
SCOPE = {"client": ("127.0.0.1", 1)}


def key(mode: str, policy: str) -> KeyPolicy:
    return KeyPolicy(
        id=1, prefix="ck-x", name="k", tenant_id=1, owner=OWNER, allowed_models=(),
        rate_limit_rpm=None, data_residency="", pii_mode=mode, pii_on_detect=policy,
        expires_at=None, revoked=False,
    )  # fmt: skip


def measure(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """(median, p99) CPU microseconds of one call."""
    for _ in range(min(n, 200)):
        fn()
    samples = []
    for _ in range(n):
        start = time.thread_time_ns()
        fn()
        samples.append(time.thread_time_ns() - start)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


class _Passthrough:
    usage = None
    output_bytes = 0
    complete = True

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def finish(self) -> bytes:
        return b""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    n = parser.parse_args().n
    user = PROSE * 8 + "Please email jane.doe@example.com and call (415) 555-0132 about it."
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": PROSE * 4},
            {"role": "user", "content": user},
        ],
    }
    raw = orjson.dumps(body)
    request = CHAT.parse(raw, orjson.loads(raw), 4096)
    step = PiiStep()
    base, _ = measure(lambda: RequestContext.begin(SCOPE, "chat.completions"), n)
    rows = []
    for mode, policy in (("off", "allow"), ("off", "warn"), ("redact", "allow"), ("tokenize", "allow")):  # fmt: skip
        policy_key = key(mode, policy)

        def run(policy_key: KeyPolicy = policy_key) -> None:
            ctx = RequestContext.begin(SCOPE, "chat.completions")
            step(ctx, headers={}, key=policy_key, tenant=TENANT, request=request, fmt="openai")

        median, p99 = measure(run, n)
        rows.append((f"step: mode {mode}, policy {policy}", median - base, p99 - base))

    ctx = RequestContext.begin(SCOPE, "chat.completions")
    step(ctx, headers={}, key=key("tokenize", "allow"), tenant=TENANT, request=request, fmt="openai")  # fmt: skip
    assert ctx.pii is not None and ctx.pii.vault is not None
    restore = ReplyRestore(ctx.pii.vault, "openai")
    answer = PROSE * 4 + " I will write to <EMAIL_1> and call <PHONE_1>."
    message = {"role": "assistant", "content": answer}
    reply = orjson.dumps({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
    rows.append((f"restore a whole {len(reply)} B reply", *measure(lambda: restore.reply(reply), n)))  # fmt: skip
    text = " I will write to <EMAIL_1> and call <PHONE_1> today, thanks." * 4
    events = [
        b"data: "
        + orjson.dumps({"choices": [{"index": 0, "delta": {"content": text[i : i + 4]}}]})
        + b"\n\n"
        for i in range(0, len(text), 4)
    ]

    def stream() -> None:
        wrapped = restore.wrap(_Passthrough())  # type: ignore[arg-type]
        for event in events:
            wrapped.feed(event)

    median, p99 = measure(stream, max(1, n // 10))
    rows.append(("restore a stream, per 4-character delta event", median / len(events), p99 / len(events)))  # fmt: skip

    print(f"### PII step in the gateway ({len(raw)} B chat request, prefilter: {engine_name()})\n")
    print("| what | median µs | p99 µs |\n| --- | ---: | ---: |")
    for name, median, p99 in rows:
        print(f"| {name} | {median:.1f} | {p99:.1f} |")


if __name__ == "__main__":
    main()
