"""CPU time and memory of a process tree, read from /proc (Linux only).

CPU is utime+stime of the root process and every live descendant, so a server
that forks workers (or a `uv`/`npx` wrapper) is counted whole, plus cutime+cstime
of each of them: the time of children that already exited and were reaped (a
PostgreSQL backend whose client disconnected), so the sum never goes backwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may hold spaces; fields follow the last ")".
    return raw[raw.rindex(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    """`root` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, queue = [], [root]
    while queue:
        pid = queue.pop()
        tree.append(pid)
        queue.extend(children.get(pid, ()))
    return tree


def tree_cpu_seconds(root: int) -> float:
    total = 0
    for pid in descendants(root):
        fields = _stat_fields(pid)
        if fields is not None:
            total += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return total / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent on anything but idle/iowait since boot."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    # guest time is already inside user/nice; do not count it twice.
    return (sum(values[:8]) - idle) / CLOCK_TICKS


def _status_kib(pid: int, field: str) -> int:
    try:
        text = (PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


@dataclass(frozen=True)
class Memory:
    peak_mb: float  # largest VmHWM of one process in the tree
    rss_mb: float  # current VmRSS of the whole tree
    processes: int


def tree_memory(root: int) -> Memory:
    pids = descendants(root)
    peak = max((_status_kib(pid, "VmHWM") for pid in pids), default=0)
    rss = sum(_status_kib(pid, "VmRSS") for pid in pids)
    return Memory(peak_mb=peak / 1024, rss_mb=rss / 1024, processes=len(pids))
