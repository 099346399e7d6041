from __future__ import annotations

from django.db import models


class EventKind(models.TextChoices):
    LLM_REQUEST = "llm_request", "LLM request"
    POLICY_DECISION = "policy_decision", "Policy decision"
    ADMIN_ACTION = "admin_action", "Admin action"
    AUTH = "auth", "Authentication"
    ALERT = "alert", "Alert"


class Decision(models.TextChoices):
    """The outcome recorded on requests and auth events (alerts use delivered/failed)."""

    ALLOWED = "allowed", "Allowed"
    DENIED = "denied", "Denied"
    ERROR = "error", "Error"
