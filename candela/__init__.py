# Load the Celery app whenever Django loads, so @shared_task binds to it (broker, eager mode).
from candela.celery import app as celery_app

__all__ = ["celery_app"]
