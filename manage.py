#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "candela.settings")
    from candela.env import SettingsError

    try:
        from django.core.management import execute_from_command_line
    except ImportError as exc:
        raise SystemExit("Django is not installed: run `make up` or `uv sync` first") from exc
    try:
        execute_from_command_line(sys.argv)
    except SettingsError as exc:
        raise SystemExit(f"candela: configuration error: {exc}") from None


if __name__ == "__main__":
    main()
