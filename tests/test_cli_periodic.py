"""The embedded periodic runner: jobs run on their interval, a failing job harms no other."""

from __future__ import annotations

import threading
import time

from candela.periodic import PeriodicRunner, beat_schedule

CALLS: dict[str, int] = {"tick": 0, "boom": 0}
LOCK = threading.Lock()


def tick() -> None:
    with LOCK:
        CALLS["tick"] += 1


def boom() -> None:
    with LOCK:
        CALLS["boom"] += 1
    raise RuntimeError("this job always fails")


def _wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_jobs_repeat_on_their_interval_and_failures_do_not_stop_them(caplog):
    CALLS.update(tick=0, boom=0)
    runner = PeriodicRunner([(0.05, "test_cli_periodic.tick"), (0.05, "test_cli_periodic.boom")])
    assert runner.start()
    try:
        assert _wait_for(lambda: CALLS["tick"] >= 3 and CALLS["boom"] >= 3), CALLS
    finally:
        runner.stop()
    settled = dict(CALLS)
    time.sleep(0.2)
    assert settled == CALLS  # stopped means stopped
    assert "periodic job test_cli_periodic.boom failed" in caplog.text


def test_first_run_waits_one_interval():
    CALLS.update(tick=0)
    runner = PeriodicRunner([(30.0, "test_cli_periodic.tick")])
    runner.start()
    time.sleep(0.2)
    runner.stop()
    assert CALLS["tick"] == 0


def test_nothing_registered_starts_nothing():
    assert PeriodicRunner([]).start() is False


def test_the_same_list_is_celery_beat_schedule():
    assert beat_schedule([(60.0, "governance.tasks.reconcile")]) == {
        "governance.tasks.reconcile": {"task": "governance.tasks.reconcile", "schedule": 60.0}
    }
