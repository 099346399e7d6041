"""Where Candela's CPU goes: py-spy samples of the gateway process under wrk load.

py-spy (its own venv, bench/.venvs/tools) records in --nonblocking mode, so the
gateway is never paused; only on-CPU samples are kept (py-spy drops idle ones).
The report gives the self time of each function and package, and the inclusive
time of the gateway's own functions, as shares of all samples and as µs per
request (share x the CPU per request measured during the same run).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from pathlib import Path

from overhead.loadgen import Endpoint, run_wrk
from overhead.procstat import tree_cpu_seconds

PY_SPY = Path(__file__).resolve().parent.parent / ".venvs" / "tools" / "bin" / "py-spy"
LINE_NUMBER = re.compile(r":\d+\)$")
PACKAGES = (
    ("gateway/", "gateway"),
    ("governance/", "governance"),
    ("audit/", "audit"),
    ("aiohttp/", "aiohttp"),
    ("redis/", "redis-py"),
    ("uvicorn/", "uvicorn"),
    ("httptools/", "httptools"),
    ("asyncio/", "asyncio"),
    ("uvloop/", "uvloop"),
    ("django/", "django"),
    ("psycopg", "psycopg"),
    ("multidict/", "multidict/yarl"),
    ("yarl/", "multidict/yarl"),
    ("logging/", "logging"),
)


def _package(frame: str) -> str:
    for marker, name in PACKAGES:
        if marker in frame:
            return name
    return "other"


def _frames(stack: str) -> list[str]:
    return [LINE_NUMBER.sub(")", frame) for frame in stack.split(";") if frame]


def record(pid: int, endpoint: Endpoint, *, stream: bool, seconds: float, out: Path) -> str:
    """Profile one wrk run at 16 connections; returns a markdown section."""
    if not PY_SPY.exists():
        return (
            "py-spy is not installed (bench/install_competitors.sh puts it in "
            "bench/.venvs/tools); no profile."
        )
    command = [
        str(PY_SPY), "record", "--pid", str(pid), "--rate", "500", "--nonblocking",
        "--format", "raw", "--duration", str(round(seconds) + 1), "--output", str(out),
    ]  # fmt: skip
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    cpu = tree_cpu_seconds(pid)
    result = run_wrk(endpoint, stream=stream, connections=16, seconds=seconds)
    cpu = tree_cpu_seconds(pid) - cpu
    _, errors = spy.communicate(timeout=seconds + 60)
    if spy.returncode != 0 or not out.exists():
        return f"py-spy failed ({spy.returncode}): {errors.strip()[-300:]}"
    cpu_us = cpu * 1e6 / result.requests if result.requests else 0.0
    return summarize(out.read_text(), cpu_us, result.requests, stream)


def summarize(raw: str, cpu_us: float, requests: int, stream: bool) -> str:
    own, by_package, inclusive = Counter(), Counter(), Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames, n = _frames(stack), int(count)
        total += n
        own[frames[-1]] += n
        by_package[_package(frames[-1])] += n
        for frame in set(frames):
            if "gateway/" in frame or "governance/" in frame or "audit/" in frame:
                inclusive[frame] += n
    if not total:
        return "py-spy recorded no on-CPU samples."

    def share(n: int) -> str:
        return f"{100 * n / total:.1f}% | {cpu_us * n / total:.0f}"

    mode = "streaming" if stream else "JSON"
    lines = [
        f"{mode}, 16 connections: {requests} requests, {cpu_us:.0f} µs CPU per request "
        f"(whole process, during the profiled run), {total} samples.",
        "",
        "| package (self time) | share | µs/req |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {share(n)} |" for name, n in by_package.most_common(12)),
        "",
        "| function (self time) | share | µs/req |",
        "| --- | ---: | ---: |",
        *(f"| `{name}` | {share(n)} |" for name, n in own.most_common(20)),
        "",
        "| Candela function (inclusive) | share | µs/req |",
        "| --- | ---: | ---: |",
        *(f"| `{name}` | {share(n)} |" for name, n in inclusive.most_common(20)),
    ]
    return "\n".join(lines)
