"""Load: wrk for throughput and latency; the check request (first bytes: first_byte.py)."""

from __future__ import annotations

import http.client
import json
import resource
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from overhead.processes import NotAvailable

WRK_DIR = Path(__file__).resolve().parent.parent / "wrk"
PROMPT = "Say hello from the benchmark."


@dataclass(frozen=True)
class Endpoint:
    """How to call one target in one mode (streaming or not)."""

    url: str
    model: str
    key: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def all_headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **dict(self.headers)}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        return headers

    def body(self, *, stream: bool) -> bytes:
        body = {"model": self.model, "messages": [{"role": "user", "content": PROMPT}]}
        body["max_tokens"] = 16
        if stream:
            body["stream"] = True
        return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int  # non-2xx answers plus socket errors and timeouts
    wrk_cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_binary() -> str:
    binary = shutil.which("wrk")
    if binary is None:
        raise NotAvailable("wrk is not installed (Debian: apt-get install -y nginx wrk)")
    return binary


def run_wrk(endpoint: Endpoint, *, stream: bool, connections: int, seconds: float) -> WrkResult:
    script = WRK_DIR / ("chat_stream.lua" if stream else "chat.lua")
    command = [
        wrk_binary(),
        "-t1",  # one thread drives 64 connections easily and leaves the cores to the proxy
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        endpoint.url,
        "--",
        endpoint.key or "-",
        endpoint.model,
        *(f"{name}: {value}" for name, value in endpoint.headers),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    data = json.loads(line[len("BENCH ") :])
    errors = sum(
        data[name]
        for name in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=errors,
        wrk_cpu_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    )


def request_target(url: str) -> str:
    """The path and query of `url`, as a request line names them."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def connection_to(url: str) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30), request_target(url)


def check(endpoint: Endpoint, *, stream: bool) -> None:
    """One request that must succeed with the upstream's answer, or the row is not run."""
    connection, path = connection_to(endpoint.url)
    try:
        connection.request("POST", path, endpoint.body(stream=stream), endpoint.all_headers())
        response = connection.getresponse()
        body = response.read()
    except OSError as exc:
        raise NotAvailable(f"check request failed: {exc!r}") from None
    finally:
        connection.close()
    text = body.decode(errors="replace")
    expected = "[DONE]" if stream else '"usage"'
    if response.status != 200 or "benchmark" not in text or expected not in text:
        raise NotAvailable(f"check request answered {response.status}: {text[:400]}")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
