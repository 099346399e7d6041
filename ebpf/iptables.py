"""The netfilter rules of the transparent redirect (`candela ebpf iptables`).

In a dedicated chain CANDELA_EGRESS, for IPv4 and IPv6:

- nat OUTPUT: outbound TCP 443 from every user except Candela's is REDIRECTed to
  the SNI listener's port (loopback destinations are left alone);
- filter OUTPUT: outbound UDP 443 from every user except Candela's is REJECTed,
  so HTTP/3 (QUIC) clients fall back to TCP, where the redirect catches them.

Applying is idempotent (the chain is flushed and refilled, the jump from OUTPUT
added once); `--remove` takes everything out again. The same steps print as a
shell script with `--print`.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass

CHAIN = "CANDELA_EGRESS"
FAMILIES = (("iptables", "127.0.0.0/8"), ("ip6tables", "::1/128"))


class IptablesError(Exception):
    """A command failed or the tools are missing; the message says what to do."""


def _join(command: tuple[str, ...]) -> str:
    # `!` needs no quoting as an argument; left bare, the rules read as iptables documents them.
    return " ".join(arg if arg == "!" else shlex.quote(arg) for arg in command)


@dataclass(frozen=True)
class Step:
    """One command; `unless` skips it when that check succeeds, `repeat` runs it
    until it fails (deleting every copy of a rule), `may_fail` ignores failure."""

    command: tuple[str, ...]
    unless: tuple[str, ...] | None = None
    repeat: bool = False
    may_fail: bool = False

    def shell(self) -> str:
        command = _join(self.command)
        if self.unless:
            return f"{_join(self.unless)} 2>/dev/null || {command}"
        if self.repeat:
            return f"while {command} 2>/dev/null; do :; done"
        if self.may_fail:
            return f"{command} 2>/dev/null || true"
        return command


@dataclass(frozen=True)
class RedirectPlan:
    owner: str  # the user (name or uid) whose traffic is exempt: the one running Candela
    port: int  # the SNI listener's port
    ipv6: bool = True

    def _families(self) -> list[tuple[str, str]]:
        return list(FAMILIES if self.ipv6 else FAMILIES[:1])

    def rules(self, loopback: str) -> dict[str, list[tuple[str, ...]]]:
        exempt = ("-m", "owner", "!", "--uid-owner", self.owner)
        redirect = ("-j", "REDIRECT", "--to-ports", str(self.port))
        return {
            "nat": [("-p", "tcp", "--dport", "443", "!", "-d", loopback, *exempt, *redirect)],
            "filter": [
                ("-p", "udp", "--dport", "443", "!", "-d", loopback, *exempt, "-j", "REJECT"),
            ],
        }

    def apply_steps(self) -> list[Step]:
        steps = []
        for binary, loopback in self._families():
            for table, rules in self.rules(loopback).items():
                base = (binary, "-w", "-t", table)
                steps.append(Step((*base, "-N", CHAIN), may_fail=True))
                steps.append(Step((*base, "-F", CHAIN)))
                steps.extend(Step((*base, "-A", CHAIN, *rule)) for rule in rules)
                steps.append(
                    Step(
                        (*base, "-A", "OUTPUT", "-j", CHAIN),
                        unless=(*base, "-C", "OUTPUT", "-j", CHAIN),
                    )
                )
        return steps

    def remove_steps(self) -> list[Step]:
        steps = []
        for binary, _loopback in self._families():
            for table in ("nat", "filter"):
                base = (binary, "-w", "-t", table)
                steps.append(Step((*base, "-D", "OUTPUT", "-j", CHAIN), repeat=True))
                steps.append(Step((*base, "-F", CHAIN), may_fail=True))
                steps.append(Step((*base, "-X", CHAIN), may_fail=True))
        return steps


def script(steps: Iterable[Step], *, header: str) -> str:
    lines = ["#!/bin/sh", *(f"# {line}" for line in header.splitlines()), "set -e"]
    lines.extend(step.shell() for step in steps)
    return "\n".join(lines) + "\n"


Runner = Callable[[tuple[str, ...]], "subprocess.CompletedProcess[str]"]


def _run(command: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def require_tools(steps: Iterable[Step]) -> None:
    missing = sorted({step.command[0] for step in steps if shutil.which(step.command[0]) is None})
    if missing:
        raise IptablesError(
            f"{' and '.join(missing)} not found: install the iptables package "
            "(Debian/Ubuntu: apt-get install iptables; RHEL/Fedora: dnf install iptables-nft)"
        )


def execute(steps: Iterable[Step], *, run: Runner = _run) -> None:
    steps = list(steps)
    require_tools(steps)
    for step in steps:
        if step.unless and run(step.unless).returncode == 0:
            continue
        if step.repeat:
            for _ in range(64):  # a rule added more often than this is not ours to chase
                if run(step.command).returncode != 0:
                    break
            continue
        result = run(step.command)
        if result.returncode != 0 and not step.may_fail:
            raise IptablesError(
                f"`{_join(step.command)}` failed: {result.stderr.strip() or result.returncode}"
                " (applying needs root or CAP_NET_ADMIN)"
            )
