"""`candela ebpf ...`: the network-enforcement commands.

`candela/cli.py` calls `add_ebpf_parser(subparsers)` and dispatches to
`run_ebpf(args)`; `python -m ebpf ...` runs the same commands on their own.
"""

from __future__ import annotations

import argparse
import os
import pwd
import sys
from collections.abc import Sequence

from ebpf.policies import PRIVATE_RANGES, TETRAGON_ACTIONS

EXIT_ERROR = 1


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "candela.settings")
    import django

    django.setup()


def _uid_gid(user: str) -> tuple[int, int]:
    if user.isdigit():
        return int(user), int(user)
    try:
        entry = pwd.getpwnam(user)
    except KeyError as exc:
        raise SystemExit(
            f"candela ebpf: no user {user!r}; create it (useradd --system --no-create-home "
            f"{user}) or pass --user/--owner with an existing name or uid"
        ) from exc
    return entry.pw_uid, entry.pw_gid


def cmd_iptables(args: argparse.Namespace) -> int:
    from django.conf import settings

    from ebpf.iptables import IptablesError, RedirectPlan, execute, script

    user = args.user or settings.CANDELA_EGRESS_USER
    port = args.port or settings.CANDELA_SNI_PORT
    plan = RedirectPlan(owner=user, port=port, ipv6=not args.no_ipv6)
    steps = plan.remove_steps() if args.remove else plan.apply_steps()
    if args.print:
        what = "remove" if args.remove else f"redirect outbound TCP 443 of every user but {user!r}"
        header = f"Candela transparent egress: {what} to the SNI listener on port {port}."
        sys.stdout.write(script(steps, header=header))
        return 0
    if not args.remove:
        _uid_gid(user)  # fail before touching the firewall when the exempt user is wrong
    try:
        execute(steps)
    except IptablesError as exc:
        print(f"candela ebpf iptables: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print("removed" if args.remove else f"applied: TCP 443 of every user but {user!r} → :{port}")
    return 0


def cmd_ca(args: argparse.Namespace) -> int:
    from django.conf import settings

    from ebpf.ca import CaError, CertificateAuthority, trust_instructions

    directory = args.dir or settings.CANDELA_CA_DIR
    try:
        ca, created = CertificateAuthority.load_or_create(directory)
    except CaError as exc:
        print(f"candela ebpf ca: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.owner:
        ca.chown(*_uid_gid(args.owner))
    print(("Created" if created else "Using the existing") + f" CA in {ca.directory}\n")
    print(trust_instructions(ca), end="")
    return 0


def cmd_listen(args: argparse.Namespace) -> int:
    from django.conf import settings

    from ebpf.ca import CaError, CertificateAuthority
    from ebpf.listener import ListenerError, ListenerOptions, build_server
    from ebpf.tls import LeafContexts

    try:
        ca = CertificateAuthority.load(args.ca_dir or settings.CANDELA_CA_DIR)
    except CaError as exc:
        print(f"candela ebpf listen: {exc}", file=sys.stderr)
        return EXIT_ERROR
    options = ListenerOptions(
        listen=tuple(args.listen or settings.CANDELA_SNI_LISTEN),
        port=args.port or settings.CANDELA_SNI_PORT,
        unknown=args.unknown or settings.CANDELA_SNI_UNKNOWN,
        refresh_seconds=args.refresh_seconds,
    )
    if not settings.REDIS_URL:
        # Embedded mode keeps counters in the process: budgets would not be shared.
        print(
            "candela ebpf listen: warning: REDIS_URL is not set, so budgets and rate limits "
            "counted here are not shared with `candela up`; run it beside candela-server",
            file=sys.stderr,
        )
    server = build_server(app=args.app, options=options, contexts=LeafContexts(ca))
    try:
        server.run()
    except ListenerError as exc:
        print(f"candela ebpf listen: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def cmd_manifests(args: argparse.Namespace) -> int:
    from django.db import DatabaseError

    from ebpf.manifests import ManifestOptions, fqdns_from_database, render
    from ebpf.policies import PolicyOptions

    policy = PolicyOptions(
        namespace=args.namespace,
        postgres=args.postgres,
        redis=args.redis,
        extra_fqdns=tuple(args.allow_fqdn),
        workload_namespaces=tuple(args.workload_namespace),
        candela_binaries=tuple(args.candela_binary or PolicyOptions.candela_binaries),
        tetragon_action=args.tetragon_action,
        cluster_ranges=tuple(args.cluster_cidr or PRIVATE_RANGES),
    )
    options = ManifestOptions(
        image=args.image, gateway_replicas=args.replicas, secret_name=args.secret, policy=policy
    )
    try:
        fqdns = fqdns_from_database()
        sys.stdout.write(render(fqdns, options))
    except DatabaseError as exc:
        print(
            f"candela ebpf manifests: cannot read providers ({exc}); "
            "is DATABASE_URL set and migrated (`candela-server migrate`)?",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except ValueError as exc:
        print(f"candela ebpf manifests: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def add_ebpf_parser(subparsers) -> argparse.ArgumentParser:
    ebpf = subparsers.add_parser("ebpf", help="network enforcement: redirect, CA, Kubernetes")
    commands = ebpf.add_subparsers(title="ebpf commands", metavar="COMMAND", required=True)

    ipt = commands.add_parser("iptables", help="nat rules redirecting outbound 443 to Candela")
    mode = ipt.add_mutually_exclusive_group(required=True)
    mode.add_argument("--print", action="store_true", help="print the commands as a shell script")
    mode.add_argument("--apply", action="store_true", help="install the rules (needs root)")
    ipt.add_argument("--remove", action="store_true", help="with --apply/--print: take them out")
    ipt.add_argument("--user", help="exempt user, the one running Candela (CANDELA_EGRESS_USER)")
    ipt.add_argument("--port", type=int, help="SNI listener port (CANDELA_SNI_PORT)")
    ipt.add_argument("--no-ipv6", action="store_true", help="skip ip6tables")
    ipt.set_defaults(ebpf_handler=cmd_iptables)

    ca = commands.add_parser("ca", help="create Candela's CA and print how workloads trust it")
    ca.add_argument("--dir", help="where the CA lives (CANDELA_CA_DIR)")
    ca.add_argument("--owner", help="user (name or uid) that runs the listener and gets the key")
    ca.set_defaults(ebpf_handler=cmd_ca)

    listen = commands.add_parser("listen", help="run the SNI listener behind the redirect")
    listen.add_argument("--port", type=int, help="port (CANDELA_SNI_PORT, default 8443)")
    listen.add_argument(
        "--listen", action="append", help="address, repeatable (CANDELA_SNI_LISTEN)"
    )
    listen.add_argument("--unknown", choices=["refuse", "passthrough"], help="CANDELA_SNI_UNKNOWN")
    listen.add_argument("--ca-dir", help="CA directory (CANDELA_CA_DIR)")
    listen.add_argument("--app", default="candela.asgi:application", help="ASGI app to serve")
    listen.add_argument("--refresh-seconds", type=float, default=30.0, help="provider host reload")
    listen.set_defaults(ebpf_handler=cmd_listen)

    man = commands.add_parser("manifests", help="Kubernetes YAML: deployment, Cilium, Tetragon")
    man.add_argument("--namespace", default="candela")
    man.add_argument("--image", default="candela:latest")
    man.add_argument("--replicas", type=int, default=2, help="gateway replicas")
    man.add_argument("--secret", default="candela-secrets", help="Secret with DATABASE_URL etc.")
    man.add_argument(
        "--postgres", default="postgres:5432", help="service[.ns]:port, ip:port or fqdn:port"
    )
    man.add_argument(
        "--redis", default="redis:6379", help="service[.ns]:port, ip:port or fqdn:port"
    )
    man.add_argument("--allow-fqdn", action="append", default=[], help="extra egress (webhooks)")
    man.add_argument(
        "--workload-namespace", action="append", default=[], help="namespace limited to the cluster"
    )
    man.add_argument("--candela-binary", action="append", help="binary Tetragon lets connect")
    man.add_argument("--tetragon-action", choices=TETRAGON_ACTIONS, default="sigkill")
    man.add_argument("--cluster-cidr", action="append", help="in-cluster ranges Tetragon ignores")
    man.set_defaults(ebpf_handler=cmd_manifests)
    return ebpf


def run_ebpf(args: argparse.Namespace) -> int:
    _setup_django()
    return args.ebpf_handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    from candela.cli import configuration_errors

    parser = argparse.ArgumentParser(prog="candela")
    add_ebpf_parser(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    with configuration_errors("candela"):
        return run_ebpf(args)
