"""The Celery app; embedded mode runs tasks in process (CELERY_TASK_ALWAYS_EAGER)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "candela.settings")

app = Celery("candela")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
