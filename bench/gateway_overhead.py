"""Gateway overhead: Candela against the same fake upstream called directly.

    uv run python bench/gateway_overhead.py [--quick] [--only candela,direct,...]

Starts nginx answering fixed OpenAI bodies (bench/upstream/nginx.conf), then
for each target runs wrk (bench/wrk/*.lua) at 1, 16 and 64 connections,
non-streaming and streaming, and prints markdown tables: requests/s, p50/p99,
p50 added over calling nginx directly, CPU ms per request of the target's
process tree (utime+stime from /proc, read before and after each run), the
share of the machine busy with anything else during the run (other load:
>0% means the figures were taken with someone else's work on the cores), the
largest process's peak RSS (VmHWM), and the median time to the first streamed
byte of sequential requests.

Targets: direct (nginx itself), candela (PostgreSQL + Redis, every check on),
candela-embedded (SQLite, in-process counters), portkey (npm
@portkey-ai/gateway under bench/.node), litellm (PyPI litellm[proxy] under
bench/.venvs/litellm), alternatives (bare raw-ASGI proxies under uvicorn with
aiohttp, httpx and httpcore clients, with and without two Redis round trips).
The Candela row recreates the database named in --database-url and flushes
the Redis db in --redis-url. --profile adds py-spy profiles of the Candela
process. Method and results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead.first_byte import first_byte_ms
from overhead.loadgen import median, wrk_binary
from overhead.measure import Run, measure, wait_until_idle
from overhead.processes import NotAvailable
from overhead.procstat import tree_memory
from overhead.profile import record
from overhead.report import TargetInfo, run_table, target_table, verdict_table
from overhead.targets import (
    MAIN_TARGETS,
    Context,
    Launcher,
    Running,
    alternative_launchers,
    local_server_pids,
)
from overhead.upstream import start_nginx

RESULTS = Path(__file__).resolve().parent / "results"
CONNECTIONS = (1, 16, 64)
# The alternatives answer two questions, CPU per request and added latency; 1 and
# 16 connections answer both and keep the whole bench near ten minutes.
ALTERNATIVE_CONNECTIONS = (1, 16)
ALTERNATIVE_SECONDS = 4.0
GROUPS = (*MAIN_TARGETS, "alternatives")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s runs, to check the setup")
    parser.add_argument(
        "--only", default=",".join(GROUPS), help=f"comma-separated, from {','.join(GROUPS)}"
    )
    parser.add_argument("--seconds", type=float, help="measured seconds per run (default 10)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also sample the candela process with py-spy (JSON and streaming, 16 connections)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/candela_bench"
        ),
        help="PostgreSQL database for the candela row; it is dropped and recreated",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"),
        help="Redis db for the candela and alternatives rows; it is flushed",
    )
    args = parser.parse_args()
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.only) - set(GROUPS))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    return args


def bench_target(
    info: TargetInfo,
    running: Running,
    upstream_pid: int,
    infra_pids: list[int],
    *,
    modes: tuple[bool, ...],
    connections: tuple[int, ...],
    seconds: float,
    warmup: float,
    ttfb_count: int,
) -> None:
    info.version = running.version
    for stream in modes:
        endpoint = running.stream if stream else running.plain
        if endpoint is None:
            continue
        for conns in connections:
            run = measure(
                info.name,
                running.pid,
                upstream_pid,
                infra_pids,
                endpoint,
                stream=stream,
                connections=conns,
                seconds=seconds,
                warmup=warmup,
            )
            info.runs.append(run)
            print(f"  {info.name} {run.mode} c={conns}: {_summary(run)}", file=sys.stderr)
    if running.stream is not None and ttfb_count:
        wait_until_idle(running.pid)  # not behind the last run's backlog
        try:
            info.ttfb_ms = median(first_byte_ms(running.stream, count=ttfb_count))
            stdlib = first_byte_ms(running.stream, count=ttfb_count, client="http.client")
            info.ttfb_stdlib_ms = median(stdlib)
        except (OSError, RuntimeError) as exc:
            print(f"  {info.name} first-byte client failed: {exc}", file=sys.stderr)
    memory = tree_memory(running.pid)
    info.peak_rss_mb, info.processes = memory.peak_mb, memory.processes


def profile_candela(running: Running, work: Path, seconds: float) -> list[str]:
    """Profiled runs first, so the measured ones after them drain any py-spy after-effects."""
    sections = []
    for stream, endpoint in ((False, running.plain), (True, running.stream)):
        if endpoint is None:
            continue
        print(f"  candela: profiling {'stream' if stream else 'json'}", file=sys.stderr)
        out = work / f"py-spy-{'stream' if stream else 'json'}.txt"
        sections.append(record(running.pid, endpoint, stream=stream, seconds=seconds, out=out))
        if out.exists():
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / out.name).write_bytes(out.read_bytes())
    return sections


def _summary(run: Run) -> str:
    if run.wrk is None:
        return f"failed: {run.failure}"
    cpu = "-" if run.cpu_ms_per_request is None else f"{run.cpu_ms_per_request:.3f}"
    return (
        f"{run.wrk.rps:,.0f} req/s p50 {run.wrk.p50_ms:.2f} ms cpu {cpu} ms/req "
        f"other {run.other_load_pct:.0f}% errors {run.wrk.errors}"
    )


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} cores ({model}), Linux {platform.release()}, Python {platform.python_version()}"


@dataclass(frozen=True)
class Step:
    """One target to start and measure, and where its figures go."""

    name: str
    launcher: Launcher
    alternative: bool

    @property
    def modes(self) -> tuple[bool, ...]:
        return (False,) if self.alternative else (False, True)

    @property
    def connections(self) -> tuple[int, ...]:
        return ALTERNATIVE_CONNECTIONS if self.alternative else CONNECTIONS


def plan(selected: list[str]) -> list[Step]:
    steps = [Step(name, MAIN_TARGETS[name], False) for name in MAIN_TARGETS if name in selected]
    if "alternatives" in selected:
        steps += [Step(name, fn, True) for name, fn in alternative_launchers().items()]
    return steps


def run_step(step: Step, ctx: Context, args: argparse.Namespace) -> tuple[TargetInfo, list[str]]:
    info, profiles = TargetInfo(step.name), []
    print(f"{step.name}: starting", file=sys.stderr)
    try:
        running = step.launcher(ctx)
    except NotAvailable as exc:
        info.not_run = str(exc)
        print(f"{step.name}: NOT RUN: {exc}", file=sys.stderr)
        return info, profiles
    try:
        if step.name == "candela" and args.profile:
            profiles = profile_candela(running, ctx.work_dir, args.seconds)
        bench_target(
            info,
            running,
            ctx.upstream.service.pid,
            ctx.infra_pids,
            modes=step.modes,
            connections=step.connections,
            seconds=min(args.seconds, ALTERNATIVE_SECONDS) if step.alternative else args.seconds,
            warmup=1.0 if step.alternative else args.warmup,
            ttfb_count=args.ttfb_count,
        )
    finally:
        running.stop()
    return info, profiles


def render(
    args: argparse.Namespace,
    started: dt.datetime,
    load_before: list[str],
    infos: list[TargetInfo],
    alternatives: list[TargetInfo],
    profiles: list[str],
) -> str:
    direct = next((i for i in infos if i.name == "direct" and not i.not_run), None)
    candela = next((i for i in infos if i.name == "candela"), None)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    sections = [
        f"Run {started:%Y-%m-%d %H:%M} UTC on {machine()}; "
        f"{args.seconds:.0f} s per run after {args.warmup:.0f} s warm-up; "
        f"load average {' '.join(load_before)} before, {' '.join(load_after)} after."
    ]
    if infos:
        sections += [
            "### Non-streaming",
            run_table(infos, "json", direct),
            "### Streaming",
            run_table(infos, "stream", direct),
            "### Memory and first streamed byte",
            target_table(infos, direct),
        ]
    if "candela" in args.only:
        others = [i for i in infos if i.name not in ("direct", "candela")]
        others += [i for i in alternatives if i.name == "bare+aiohttp+redis"]
        sections += [
            "### Candela against its targets (the others: same figures, same run)",
            verdict_table(candela, others, direct),
        ]
    if alternatives:
        sections += [
            "### Alternatives: bare raw-ASGI proxy, non-streaming",
            run_table(alternatives, "json", direct),
        ]
    if profiles:
        sections += ["### Where Candela's CPU goes (py-spy)", *profiles]
    return "\n\n".join(sections)


def save(
    text: str,
    started: dt.datetime,
    args: argparse.Namespace,
    infos: list[TargetInfo],
    alternatives: list[TargetInfo],
) -> None:
    RESULTS.mkdir(exist_ok=True)
    stamp = f"{started:%Y%m%d-%H%M%S}"
    (RESULTS / f"overhead-{stamp}.md").write_text(text + "\n")
    raw = {
        "started": started.isoformat(),
        "seconds": args.seconds,
        "machine": machine(),
        "targets": [asdict(i) for i in infos],
        "alternatives": [asdict(i) for i in alternatives],
    }
    (RESULTS / f"overhead-{stamp}.json").write_text(json.dumps(raw, indent=1, default=str))
    print(f"\n(saved to bench/results/overhead-{stamp}.md and .json)", file=sys.stderr)


def main() -> None:
    args = parse_args()
    args.seconds = args.seconds or (2.0 if args.quick else 10.0)
    args.warmup = 1.0 if args.quick else 2.0
    args.ttfb_count = 50 if args.quick else 300
    wrk_binary()  # fail at once, with the install hint, if wrk is missing
    if "direct" not in args.only:
        args.only.insert(0, "direct")  # the baseline every "added" figure is measured against
    started = dt.datetime.now(dt.UTC)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    infos: list[TargetInfo] = []
    alternatives: list[TargetInfo] = []
    profiles: list[str] = []
    with tempfile.TemporaryDirectory(prefix="candela-bench-") as tmp:
        work = Path(tmp)
        upstream = start_nginx(work)
        try:
            pids = local_server_pids(args.database_url, args.redis_url)
            ctx = Context(work, upstream, args.database_url, args.redis_url, pids)
            for step in plan(args.only):
                info, found = run_step(step, ctx, args)
                (alternatives if step.alternative else infos).append(info)
                profiles += found
        finally:
            upstream.service.stop()
    text = render(args, started, load_before, infos, alternatives, profiles)
    print(text)
    save(text, started, args, infos, alternatives)


if __name__ == "__main__":
    main()
