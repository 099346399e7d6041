"""`candela ebpf iptables --print|--apply`: the rules, and clear failures.

The rules are applied for real inside a network namespace in test_ebpf_netns.py.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from contextlib import redirect_stderr, redirect_stdout

import pytest

from ebpf.cli import main as ebpf_main


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = ebpf_main(["ebpf", "iptables", *args])
    return code, out.getvalue(), err.getvalue()


def test_print_is_a_shell_script_with_the_redirect_and_quic_rules():
    code, script, _ = _run("--print", "--user", "candela", "--port", "9443")
    assert code == 0
    assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0
    lines = script.splitlines()
    assert (
        "iptables -w -t nat -A CANDELA_EGRESS -p tcp --dport 443 ! -d 127.0.0.0/8 "
        "-m owner ! --uid-owner candela -j REDIRECT --to-ports 9443"
    ) in lines
    assert (
        "iptables -w -t filter -A CANDELA_EGRESS -p udp --dport 443 ! -d 127.0.0.0/8 "
        "-m owner ! --uid-owner candela -j REJECT"
    ) in lines
    assert (
        "ip6tables -w -t nat -A CANDELA_EGRESS -p tcp --dport 443 ! -d ::1/128 "
        "-m owner ! --uid-owner candela -j REDIRECT --to-ports 9443"
    ) in lines
    # Idempotent: the jump is added only when missing, the chain is refilled from empty.
    assert (
        "iptables -w -t nat -C OUTPUT -j CANDELA_EGRESS 2>/dev/null || "
        "iptables -w -t nat -A OUTPUT -j CANDELA_EGRESS"
    ) in lines
    assert lines.index("iptables -w -t nat -F CANDELA_EGRESS") < lines.index(
        next(line for line in lines if "REDIRECT" in line)
    )


def test_defaults_come_from_settings(settings):
    settings.CANDELA_EGRESS_USER = "llm-proxy"
    settings.CANDELA_SNI_PORT = 10443
    _, script, _ = _run("--print", "--no-ipv6")
    assert "--uid-owner llm-proxy -j REDIRECT --to-ports 10443" in script
    assert "ip6tables" not in script


def test_print_remove_takes_out_every_jump_and_the_chain():
    _, script, _ = _run("--print", "--remove")
    assert "while iptables -w -t nat -D OUTPUT -j CANDELA_EGRESS 2>/dev/null; do :; done" in script
    assert "iptables -w -t filter -X CANDELA_EGRESS 2>/dev/null || true" in script
    assert "-A CANDELA_EGRESS" not in script


def test_apply_for_a_user_that_does_not_exist_says_how_to_create_it():
    with pytest.raises(SystemExit, match="useradd --system"):
        _run("--apply", "--user", "no-such-candela-user")


def test_apply_without_iptables_names_the_package(monkeypatch, tmp_path):
    # A PATH with sh but no iptables: what a fresh container without the package sees.
    (tmp_path / "sh").symlink_to(shutil.which("sh"))
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = _run("--apply", "--user", "0")
    assert code == 1
    assert "apt-get install iptables" in err
