"""Periodic jobs: one list, run by Celery beat in production and by a thread embedded.

Each entry is `(every_seconds, "dotted.path.to.callable")`; the callable takes no
arguments (a Celery task or a plain function). `candela up` runs them in a daemon
thread of the server process; `candela-server beat` schedules the same list.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.db import close_old_connections
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)

PERIODIC_TASKS: list[tuple[float, str]] = [
    (60.0, "governance.tasks.check_all_alerts"),  # spend alerts (backstop of check_after_spend)
    (60.0, "governance.tasks.expire_grants"),
    (60.0, "governance.tasks.reconcile_counters"),  # Redis counters back from the ledger
    (300.0, "audit.tasks.export_to_duckdb"),  # no-op unless CANDELA_DUCKDB_PATH
    (300.0, "audit.tasks.export_to_bigquery"),  # no-op unless CANDELA_BIGQUERY_TABLE
]


def beat_schedule(tasks: Sequence[tuple[float, str]] = PERIODIC_TASKS) -> dict[str, dict]:
    """The same list as a CELERY_BEAT_SCHEDULE (each entry names a registered task)."""
    return {path: {"task": path, "schedule": float(seconds)} for seconds, path in tasks}


class PeriodicRunner:
    """Calls each job every N seconds from one daemon thread (embedded mode only)."""

    def __init__(self, tasks: Sequence[tuple[float, str]] = PERIODIC_TASKS) -> None:
        self._jobs: list[tuple[float, str, Callable[[], Any]]] = [
            (float(seconds), path, import_string(path)) for seconds, path in tasks
        ]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start the thread; with no jobs registered nothing runs and False is returned."""
        if not self._jobs:
            return False
        self._thread = threading.Thread(target=self._loop, name="candela-periodic", daemon=True)
        self._thread.start()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        start = time.monotonic()
        due = [start + seconds for seconds, _, _ in self._jobs]
        while not self._stop.is_set():
            for index, (seconds, path, job) in enumerate(self._jobs):
                if time.monotonic() >= due[index]:
                    self._run(path, job)
                    due[index] = time.monotonic() + seconds
            self._stop.wait(max(0.01, min(due) - time.monotonic()))

    @staticmethod
    def _run(path: str, job: Callable[[], Any]) -> None:
        close_old_connections()
        try:
            job()
        # A failing job must not stop the other jobs or the server; Celery beat
        # behaves the same way, and the traceback goes to the log.
        except Exception:
            log.exception("periodic job %s failed", path)
        finally:
            close_old_connections()
