"""The Celery app; embedded mode runs tasks in process (CELERY_TASK_ALWAYS_EAGER).

`candela-server worker` runs `celery -A candela.celery worker`, `candela-server beat` the
scheduler, whose schedule is `candela.periodic.PERIODIC_TASKS` (the same list the embedded
mode runs on a timer).
"""

from __future__ import annotations

import os

from celery import Celery

from candela.periodic import beat_schedule

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "candela.settings")

app = Celery("candela")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.beat_schedule = beat_schedule()
app.autodiscover_tasks()
