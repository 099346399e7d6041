"""Enumerations shared by tenants and the apps that govern them."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    OPERATOR = "operator", "Operator (platform-wide)"
    ADMIN = "admin", "Tenant admin"
    DEVELOPER = "developer", "Developer"


class PiiMode(models.TextChoices):
    OFF = "off", "Off"
    REDACT = "redact", "Redact"
    TOKENIZE = "tokenize", "Tokenize (reversible)"


class PiiOnDetect(models.TextChoices):
    ALLOW = "allow", "Allow"
    WARN = "warn", "Warn (header)"
    REQUIRE_ACK = "require_ack", "Require acknowledgment"
    BLOCK = "block", "Block"


class Region(models.TextChoices):
    US = "us", "United States"
    EU = "eu", "European Union"
    APAC = "apac", "Asia-Pacific"
