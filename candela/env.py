"""Typed environment-variable readers that fail loudly with one clear line."""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def env_str(name: str, default: str = "") -> str:
    """Read `name`, or the file named by `name_FILE` (Docker/K8s secrets)."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"{name}_FILE={file_path} cannot be read: {exc.strerror}") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = env_str(name, "")
    if raw == "":
        return default
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use true/false)")


def env_int(name: str, default: int) -> int:
    raw = env_str(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not an integer") from exc


def env_float(name: str, default: float) -> float:
    raw = env_str(name, "")
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a number") from exc


def env_decimal(name: str, default: str | None) -> Decimal | None:
    raw = env_str(name, "")
    if raw == "":
        return Decimal(default) if default is not None else None
    try:
        return Decimal(raw)
    except InvalidOperation as exc:
        raise SettingsError(f"{name}={raw!r} is not a decimal amount") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]
