"""Markdown tables from the measured runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from overhead.measure import Run

# Candela's targets from the gateway issue.
CPU_TARGET_MS = 0.5  # per request, JSON, 16 connections
ADDED_P50_TARGET_MS = 0.75  # JSON, one connection
RSS_TARGET_MB = 150.0  # per process
ADDED_TTFB_TARGET_MS = 1.0  # streaming, sequential


@dataclass
class TargetInfo:
    name: str
    version: str = ""
    not_run: str = ""  # the reason, when the target could not run at all
    peak_rss_mb: float | None = None
    processes: int = 0
    ttfb_ms: float | None = None  # raw-socket client (overhead/first_byte.py)
    ttfb_stdlib_ms: float | None = None  # http.client, as runs before 2026-12-06 reported
    runs: list[Run] = field(default_factory=list)


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _baseline(direct: TargetInfo | None, mode: str, connections: int) -> Run | None:
    if direct is None:
        return None
    return next(
        (r for r in direct.runs if r.mode == mode and r.connections == connections and r.wrk),
        None,
    )


def added_p50(run: Run, direct: TargetInfo | None) -> float | None:
    base = _baseline(direct, run.mode, run.connections)
    if base is None or run.wrk is None or run.target == "direct":
        return None
    return run.wrk.p50_ms - base.wrk.p50_ms


def run_table(targets: list[TargetInfo], mode: str, direct: TargetInfo | None) -> str:
    lines = [
        "| target | conns | req/s | p50 ms | p99 ms | added p50 ms | CPU ms/req "
        "| Redis+PG ms/req | other load | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for info in targets:
        if info.not_run:
            lines.append(f"| {info.name} | not run ({_one_line(info.not_run)}) |||||||||")
            continue
        for run in (r for r in info.runs if r.mode == mode):
            if run.wrk is None:
                lines.append(f"| {info.name} | {run.connections} | failed ({run.failure}) ||||||||")
                continue
            w = run.wrk
            lines.append(
                f"| {info.name} | {run.connections} | {_f(w.rps, 0)} | {_f(w.p50_ms)} "
                f"| {_f(w.p99_ms)} | {_f(added_p50(run, direct))} "
                f"| {_f(run.cpu_ms_per_request, 3)} | {_f(run.infra_cpu_ms_per_request, 3)} "
                f"| {_f(run.other_load_pct, 0)}% "
                f"| {w.errors or 0} |"
            )
    return "\n".join(lines)


def _added(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None else value - base


def target_table(targets: list[TargetInfo], direct: TargetInfo | None) -> str:
    lines = [
        "| target | what ran | peak RSS MB (largest process) | processes "
        "| first streamed byte p50 ms | added ms | http.client: p50 ms | added ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    raw, stdlib = (direct.ttfb_ms, direct.ttfb_stdlib_ms) if direct else (None, None)
    for info in targets:
        if info.not_run:
            continue
        here = info is direct
        lines.append(
            f"| {info.name} | {info.version} | {_f(info.peak_rss_mb, 0)} | {info.processes} "
            f"| {_f(info.ttfb_ms, 3)} | {_f(None if here else _added(info.ttfb_ms, raw), 3)} "
            f"| {_f(info.ttfb_stdlib_ms, 3)} "
            f"| {_f(None if here else _added(info.ttfb_stdlib_ms, stdlib), 3)} |"
        )
    return "\n".join(lines)


def _metrics(info: TargetInfo, direct: TargetInfo | None) -> list[float | None]:
    """[CPU ms/req JSON@16, added p50 JSON@1, peak RSS, added first byte] of one target."""

    def run(mode: str, connections: int) -> Run | None:
        return next(
            (r for r in info.runs if r.mode == mode and r.connections == connections and r.wrk),
            None,
        )

    json16, json1 = run("json", 16), run("json", 1)
    return [
        json16.cpu_ms_per_request if json16 else None,
        added_p50(json1, direct) if json1 else None,
        info.peak_rss_mb,
        _added(info.ttfb_ms, direct.ttfb_ms if direct else None),
    ]


def verdict_table(
    candela: TargetInfo | None, others: list[TargetInfo], direct: TargetInfo | None
) -> str:
    """Candela against its targets, beside the same figures of the others in this run."""
    if candela is None or candela.not_run:
        reason = candela.not_run if candela else "not selected"
        return f"Candela was not run ({_one_line(reason)}), so no verdict."
    ran = [o for o in others if not o.not_run and o.runs and o is not candela]
    goals = [
        ("CPU ms per request, JSON, 16 connections", CPU_TARGET_MS, 3),
        ("added p50 ms, JSON, 1 connection", ADDED_P50_TARGET_MS, 2),
        ("peak RSS MB per process", RSS_TARGET_MB, 0),
        ("added ms to first streamed byte", ADDED_TTFB_TARGET_MS, 2),
    ]
    mine = _metrics(candela, direct)
    theirs = [_metrics(o, direct) for o in ran]
    lines = [
        "| metric | target | candela | met | " + " | ".join(o.name for o in ran) + " |",
        "| --- | ---: | ---: | --- |" + " ---: |" * len(ran),
    ]
    for i, (label, limit, digits) in enumerate(goals):
        value = mine[i]
        met = "-" if value is None else ("yes" if value <= limit else "**no**")
        cells = " | ".join(_f(m[i], digits) for m in theirs)
        lines.append(f"| {label} | ≤ {_f(limit, digits)} | {_f(value, digits)} | {met} | {cells} |")
    return "\n".join(lines)


def _one_line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first.replace("|", "/")[:160]
