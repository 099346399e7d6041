"""`candela`: laptop mode (`up`), `bootstrap --json`, `audit verify` and `ebpf …`.

Settings are read when Django is set up, inside `configuration_errors()`, so a
bad environment variable ends the command with one line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

from ebpf.cli import add_ebpf_parser, run_ebpf

CONFIG_ERROR_EXIT = 2


def fail(message: str, *, prog: str = "candela", code: int = CONFIG_ERROR_EXIT) -> NoReturn:
    print(f"{prog}: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


@contextmanager
def configuration_errors(prog: str) -> Iterator[None]:
    """Turn a settings problem, wherever it surfaces, into one line and exit 2."""
    from django.core.exceptions import ImproperlyConfigured
    from django.db import OperationalError

    from candela.env import SettingsError

    try:
        yield
    except SettingsError as exc:
        fail(f"configuration error: {exc}", prog=prog)
    except ImproperlyConfigured as exc:
        # Django names its own setting; the user wrote DATABASE_URL.
        hint = " (check DATABASE_URL)" if "DATABASES" in str(exc) else ""
        fail(f"configuration error: {exc}{hint}", prog=prog)
    except OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"configuration error: cannot use the database (DATABASE_URL): {reason}", prog=prog)


def setup_django() -> None:
    """Load settings and apps; also reject a REDIS_URL that redis-py cannot parse."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "candela.settings")
    import django
    from django.conf import settings
    from redis.connection import parse_url

    from candela.env import SettingsError

    django.setup()
    if settings.REDIS_URL:
        try:
            parse_url(settings.REDIS_URL)
        except ValueError as exc:
            raise SettingsError(f"REDIS_URL is not a valid Redis URL: {exc}") from exc


def embedded() -> bool:
    """Laptop mode: no DATABASE_URL, so the SQLite file under CANDELA_HOME is ours to migrate."""
    from candela.env import env_str

    return not env_str("DATABASE_URL")


def migrate(*, verbosity: int = 0) -> None:
    from django.core.management import call_command

    # Migration output goes to stderr so stdout stays machine-readable.
    call_command("migrate", interactive=False, verbosity=verbosity, stdout=sys.stderr)


def cmd_up(args: argparse.Namespace) -> int:
    setup_django()
    migrate()
    from django.db import connections

    from candela.demo import describe, seed_demo
    from candela.periodic import PeriodicRunner
    from candela.serve import serve

    # A wildcard bind address is no address to click on.
    shown_host = "127.0.0.1" if args.host in {"0.0.0.0", "::", ""} else args.host  # noqa: S104
    shown_host = f"[{shown_host}]" if ":" in shown_host else shown_host
    base_url = f"http://{shown_host}:{args.port}"
    creds = seed_demo(provider_api_key=os.environ.get("OPENAI_API_KEY", ""))
    if creds is not None:
        print(describe(creds, base_url=base_url), flush=True)
    else:
        print(f"Candela: {base_url}/admin/ (demo credentials were shown on first start)")
    # The serving threads open their own connections; this one is done.
    connections.close_all()
    runner = PeriodicRunner()
    runner.start()
    try:
        serve(host=args.host, port=args.port, workers=1)
    finally:
        runner.stop()
    return 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    setup_django()
    if embedded():
        migrate()
    from candela.demo import bootstrap_operator

    result = bootstrap_operator()
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        for name, value in result.items():
            print(f"{name}: {value if value is not None else '(unchanged)'}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    setup_django()
    if embedded():
        migrate()
    from audit.services import verify_chain

    report = verify_chain()
    if report.ok:
        print(f"ok: {report.events} events")
        return 0
    print(f"broken: event {report.first_bad}: {report.problem}")
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="candela", description="Candela, the governance-first LLM proxy (laptop mode)."
    )
    # `candela --port 9000` is `candela up --port 9000`.
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=8000, help=argparse.SUPPRESS)
    parser.set_defaults(handler=cmd_up)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    up = commands.add_parser("up", help="serve on this machine (the default command)")
    up.add_argument("--host", default=argparse.SUPPRESS, help="default 127.0.0.1")
    up.add_argument("--port", type=int, default=argparse.SUPPRESS, help="default 8000")
    up.set_defaults(handler=cmd_up)

    bootstrap = commands.add_parser(
        "bootstrap", help="ensure an operator exists and print a new management token"
    )
    bootstrap.add_argument("--json", action="store_true", help="print one JSON object")
    bootstrap.set_defaults(handler=cmd_bootstrap)

    audit = commands.add_parser("audit", help="audit trail tools")
    audit_commands = audit.add_subparsers(title="audit commands", metavar="COMMAND", required=True)
    verify = audit_commands.add_parser("verify", help="recompute the audit hash chain")
    verify.set_defaults(handler=cmd_audit_verify)

    add_ebpf_parser(commands).set_defaults(handler=run_ebpf)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with configuration_errors("candela"):
            return args.handler(args)
    except KeyboardInterrupt:
        return 130  # Ctrl+C before serving (e.g. during migrations): no traceback


if __name__ == "__main__":
    sys.exit(main())
