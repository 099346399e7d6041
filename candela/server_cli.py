"""`candela-server`: production serving, migrations, Celery worker and beat.

CANDELA_PRODUCTION=1 is set before settings load, so a missing secret key,
DATABASE_URL or REDIS_URL stops start-up with one line (exit 2). Serving never
migrates; `candela-server migrate` does, as a separate deployment step.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from candela.cli import configuration_errors, fail, migrate, setup_django

PROG = "candela-server"


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr, flush=True)


def _check_database() -> None:
    """Warn (never migrate) when migrations are missing or the database is away.

    A gateway whose database is briefly unreachable still starts: /healthz
    answers 503 until it is back, so the load balancer keeps traffic away.
    """
    from django.db import DatabaseError, connection
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        _warn(f"database not reachable yet ({str(exc).strip().splitlines()[0]})")
        return
    finally:
        connection.close()
    if pending:
        _warn(f"{len(pending)} migrations are not applied; run `{PROG} migrate`")


def cmd_serve(args: argparse.Namespace, extra: list[str]) -> int:
    from candela.env import env_str

    if args.workers < 1:
        fail("--workers must be at least 1", prog=PROG)
    if args.workers > 1 and not env_str("REDIS_URL"):
        fail(
            f"--workers {args.workers} needs REDIS_URL: budgets, rate limits and policy "
            "changes are shared between workers through Redis",
            prog=PROG,
        )
    setup_django()
    _check_database()
    from candela.serve import serve

    serve(host=args.host, port=args.port, workers=args.workers, access_log=False)
    return 0


def cmd_migrate(args: argparse.Namespace, extra: list[str]) -> int:
    setup_django()
    migrate(verbosity=1)
    return 0


def _celery(argv: list[str]) -> int:
    setup_django()
    from django.conf import settings

    from candela.celery import app  # its beat schedule is candela.periodic.PERIODIC_TASKS

    # Beat's state file lives with Candela's other files, not in the working directory.
    app.conf.beat_schedule_filename = str(settings.CANDELA_HOME / "celerybeat-schedule")
    try:
        settings.CANDELA_HOME.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"configuration error: CANDELA_HOME={settings.CANDELA_HOME}: {exc}", prog=PROG)
    app.start(argv)
    return 0


def cmd_worker(args: argparse.Namespace, extra: list[str]) -> int:
    return _celery(["worker", "--loglevel=INFO", *extra])


def cmd_beat(args: argparse.Namespace, extra: list[str]) -> int:
    return _celery(["beat", "--loglevel=INFO", *extra])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Candela in production: PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).",
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--host",
        default="0.0.0.0",  # noqa: S104 (a server behind a load balancer)
        help="default 0.0.0.0 (all interfaces)",
    )
    parser.add_argument("--port", type=int, default=8000, help="default 8000")
    parser.set_defaults(handler=cmd_serve, passes_extra=False)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    commands.add_parser("migrate", help="apply database migrations").set_defaults(
        handler=cmd_migrate
    )
    commands.add_parser(
        "worker", help="Celery worker (extra options go to celery)", add_help=False
    ).set_defaults(handler=cmd_worker, passes_extra=True)
    commands.add_parser(
        "beat", help="Celery beat scheduler (extra options go to celery)", add_help=False
    ).set_defaults(handler=cmd_beat, passes_extra=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not args.passes_extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    # Before any settings load: production refuses embedded defaults.
    os.environ["CANDELA_PRODUCTION"] = "1"
    try:
        with configuration_errors(PROG):
            return args.handler(args, extra)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
