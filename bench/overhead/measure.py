"""One measured wrk run against a running target, with its CPU accounting."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from overhead.loadgen import Endpoint, WrkResult, run_wrk
from overhead.procstat import machine_busy_seconds, tree_cpu_seconds

# Deferred work (batched audit/usage writes, flushed every ~0.2 s) is the
# target's cost too: CPU is read this long after the load stops.
SETTLE_SECONDS = 1.0
CORES = os.cpu_count() or 1
# A run starts only once the target has drained the previous one: an overloaded
# proxy is still working through queued requests after wrk has stopped.
IDLE_WINDOW_SECONDS = 0.5
IDLE_CPU_SECONDS = 0.02  # per window: two clock ticks
DRAIN_LIMIT_SECONDS = 60.0


@dataclass
class Run:
    target: str
    mode: str  # "json" or "stream"
    connections: int
    wrk: WrkResult | None = None
    cpu_ms_per_request: float | None = None
    upstream_cpu_ms_per_request: float | None = None
    infra_cpu_ms_per_request: float | None = None  # local Redis + PostgreSQL servers
    other_load_pct: float | None = None  # cores busy outside all of the above and wrk, in %
    failure: str = ""


def _infra_cpu(pids: list[int]) -> float:
    return sum(tree_cpu_seconds(pid) for pid in pids)


def wait_until_idle(pid: int) -> None:
    deadline = time.monotonic() + DRAIN_LIMIT_SECONDS
    last = tree_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(IDLE_WINDOW_SECONDS)
        now = tree_cpu_seconds(pid)
        if now - last <= IDLE_CPU_SECONDS:
            return
        last = now


def measure(
    target: str,
    target_pid: int,
    upstream_pid: int,
    infra_pids: list[int],
    endpoint: Endpoint,
    *,
    stream: bool,
    connections: int,
    seconds: float,
    warmup: float,
) -> Run:
    run = Run(target, "stream" if stream else "json", connections)
    try:
        wait_until_idle(target_pid)
        run_wrk(endpoint, stream=stream, connections=connections, seconds=warmup)
        wait_until_idle(target_pid)
        cpu, nginx, infra, busy = (
            tree_cpu_seconds(target_pid),
            tree_cpu_seconds(upstream_pid),
            _infra_cpu(infra_pids),
            machine_busy_seconds(),
        )
        started = time.monotonic()
        result = run_wrk(endpoint, stream=stream, connections=connections, seconds=seconds)
        time.sleep(SETTLE_SECONDS)
        elapsed = time.monotonic() - started
        cpu = tree_cpu_seconds(target_pid) - cpu
        nginx = tree_cpu_seconds(upstream_pid) - nginx
        infra = _infra_cpu(infra_pids) - infra
        busy = machine_busy_seconds() - busy
    except RuntimeError as exc:
        run.failure = str(exc).strip().splitlines()[0][:200]
        return run
    if not result.requests:
        run.failure = f"no request completed in {seconds:.0f} s"
        return run
    run.wrk = result
    if result.requests:
        run.cpu_ms_per_request = cpu * 1000 / result.requests
        run.upstream_cpu_ms_per_request = nginx * 1000 / result.requests
        run.infra_cpu_ms_per_request = infra * 1000 / result.requests if infra_pids else None
    own = cpu + infra + result.wrk_cpu_s + (nginx if target_pid != upstream_pid else 0.0)
    run.other_load_pct = max(0.0, busy - own) * 100 / (CORES * elapsed)
    return run
