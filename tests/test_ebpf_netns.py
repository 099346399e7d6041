"""The transparent redirect for real, inside a network namespace this test creates.

In the namespace: `candela ebpf iptables --apply` rules exempting Candela's uid,
`candela ebpf listen` running as that uid (gateway included), a fake provider on
203.0.113.20:443 and, for `api.openai.com`, the address 203.0.113.10 (the
namespace's own /etc/hosts, through `ip netns exec`). A client running as
another uid uses the real `openai` SDK against https://api.openai.com: the
kernel redirects it to Candela, which governs, forwards and audits the call.
PostgreSQL and Redis of the test run are bridged in on 127.0.0.1.

Needs root and the `iproute2`, `iptables` and `util-linux` (setpriv) packages;
without them, or if the kernel refuses a namespace, the tests fail and say so.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_lib
from django.conf import settings

from audit.models import AuditEvent
from ebpf.ca import CertificateAuthority
from ebpf.iptables import RedirectPlan, execute
from ebpf.tls import server_context
from governance.policy_bus import POLICY_VERSION_KEY
from governance.services.providers import create_provider
from governance.services.users import create_user
from tenants.constants import Role
from tests.fakes.provider import FakeProvider
from tests.gateway_harness import (  # noqa: F401 - fixtures
    Setup,
    _restore_triggers,
    gw_db,
    redis_host_port,
    wait_for_records,
)
from tests.gateway_harness import test_database_url as database_url

ROOT = Path(__file__).resolve().parent.parent
CANDELA_UID = 64321  # runs the listener: its traffic is exempt from the redirect
CLIENT_UID = 64322  # any other process on the machine
SNI_PORT = 8443
OPENAI_IP = "203.0.113.10"  # TEST-NET-3: what api.openai.com resolves to in the namespace
PROVIDER_IP = "203.0.113.20"  # the fake provider, plain HTTP on port 443
SERVICE_IP = "203.0.113.30"  # internal.example, a TLS service that is no LLM provider
CLONE_NEWNET = 0x40000000

# --- the namespace -------------------------------------------------------------


def _require_root_and_tools() -> None:
    if os.geteuid() != 0:
        pytest.fail("needs root: the test creates a network namespace and iptables rules")
    for tool, package in (
        ("ip", "iproute2"),
        ("iptables", "iptables"),
        ("ip6tables", "iptables"),
        ("setpriv", "util-linux"),
    ):
        if shutil.which(tool) is None:
            pytest.fail(
                f"`{tool}` not found: install the {package} package (apt-get install {package})"
            )


class Netns:
    """A network namespace with its own /etc/hosts; a thread inside it runs our calls."""

    def __init__(self) -> None:
        _require_root_and_tools()
        self.name = f"candela-test-{secrets.token_hex(4)}"
        self.etc = Path("/etc/netns") / self.name
        created = subprocess.run(["ip", "netns", "add", self.name], capture_output=True, text=True)
        if created.returncode != 0:
            pytest.fail(
                f"the kernel refused a network namespace (`ip netns add`): {created.stderr.strip()}"
            )
        self._inside = ThreadPoolExecutor(1, initializer=self._enter)
        try:
            self.ip("link", "set", "lo", "up")
            for address in (OPENAI_IP, PROVIDER_IP, SERVICE_IP):
                self.ip("addr", "add", f"{address}/32", "dev", "lo")
            self.etc.mkdir(parents=True)
            (self.etc / "hosts").write_text(
                f"127.0.0.1 localhost\n::1 localhost\n{OPENAI_IP} api.openai.com\n"
                f"{SERVICE_IP} internal.example\n"
            )
            (self.etc / "resolv.conf").write_text("# no DNS in the test namespace\n")
        except (subprocess.CalledProcessError, OSError):
            self.delete()
            raise

    def ip(self, *args: str) -> None:
        subprocess.run(["ip", "-n", self.name, *args], check=True, capture_output=True)

    def _enter(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into the test namespace failed")
        finally:
            os.close(fd)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn` in the namespace (sockets it creates, and threads it starts, live there)."""
        return self._inside.submit(fn, *args).result(30)

    def command(self, argv: list[str], *, uid: int | None = None) -> list[str]:
        prefix = ["ip", "netns", "exec", self.name]
        if uid is not None:
            # The interpreter may live under a root-only directory (pyenv, uv under
            # /root): reading it is all the capability allows; network rights stay nil.
            prefix += [
                "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--",
            ]  # fmt: skip
        return prefix + argv

    def run(self, argv: list[str], *, uid: int | None = None, env=None, input_text=None):
        return subprocess.run(
            self.command(argv, uid=uid),
            cwd=ROOT,
            env=env,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def delete(self) -> None:
        self._inside.shutdown(wait=False)
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)
        shutil.rmtree(self.etc, ignore_errors=True)


def _listen(host: str, port: int, kind: int = socket.SOCK_STREAM) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    if kind == socket.SOCK_STREAM:
        sock.listen(64)
    return sock


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)


class Bridge:
    """Makes a service of the host (PostgreSQL, Redis) answer on 127.0.0.1 in the namespace."""

    def __init__(self, ns: Netns, target: tuple[str, int]) -> None:
        self.target = target
        self.sock = ns.call(_listen, "127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                inner, _ = self.sock.accept()
                outer = socket.create_connection(self.target, timeout=5)
            except OSError:
                if self.sock.fileno() == -1:
                    return
                continue
            outer.settimeout(None)
            for source, sink in ((inner, outer), (outer, inner)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class TlsService:
    """internal.example:443, a TLS echo service with its own PKI (not Candela's)."""

    def __init__(self, ns: Netns, ca_dir: Path) -> None:
        self.ca = CertificateAuthority.create(ca_dir, common_name="internal.example CA")
        self.context = server_context(self.ca.issue("internal.example"))
        self.sock = ns.call(_listen, SERVICE_IP, 443)
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with (
                contextlib.suppress(OSError),
                self.context.wrap_socket(conn, server_side=True) as tls,
            ):
                tls.sendall(b"echo: " + tls.recv(1024))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


# --- the client: another uid, believing it talks to the real hosts ---------------

CLIENT = r"""
import json, socket, ssl, sys

def chat(key, model="gpt-4o-mini"):
    import openai  # base_url left at its default: https://api.openai.com/v1
    client = openai.OpenAI(api_key=key, max_retries=0, timeout=20)
    try:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": "hello there"}]
        )
    except openai.APIStatusError as exc:
        return {"status": exc.status_code, "request_id": exc.response.headers.get("x-candela-request-id"),
                "code": (exc.body or {}).get("code") if isinstance(exc.body, dict) else None}
    return {"status": raw.http_response.status_code, "request_id": raw.headers.get("x-candela-request-id"),
            "content": raw.parse().choices[0].message.content}

def tls(host, port, sni, cafile, send=""):
    context = ssl.create_default_context(cafile=cafile)
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            with context.wrap_socket(sock, server_hostname=sni) as conn:
                issuer = dict(x[0] for x in conn.getpeercert()["issuer"])
                reply = b""
                if send:
                    conn.sendall(send.encode())
                    reply = conn.recv(1024)
                return {"issuer": issuer.get("commonName"), "reply": reply.decode()}
    except (OSError, ssl.SSLError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}

def http(host, port, path):
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            return {"response": data.decode(errors="replace")}
    except OSError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}

def udp(host, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1)
    try:
        sock.connect((host, port))
        sock.send(b"quic initial")
        sock.recv(100)
        return {"blocked": None, "reply": True}
    except socket.timeout:
        return {"blocked": None}
    except OSError as exc:
        return {"blocked": type(exc).__name__}

steps = json.load(sys.stdin)
print(json.dumps([globals()[name](*args) for name, *args in steps]))
"""


@dataclass
class Enforced:
    """A namespace with the redirect applied, the listener running, a fake provider."""

    ns: Netns
    ca_path: Path
    fake: FakeProvider
    service: TlsService
    listener: subprocess.Popen
    log_path: Path

    def client(self, *steps: list[Any], uid: int = CLIENT_UID) -> list[dict[str, Any]]:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": "/nonexistent",
            "SSL_CERT_FILE": str(self.ca_path),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        done = self.ns.run(
            [sys.executable, "-c", CLIENT], uid=uid, env=env, input_text=json.dumps(steps)
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def policy_version(self) -> int | None:
        """Asked through the listener itself: TLS to 127.0.0.1:8443 with SNI api.openai.com."""

        def probe() -> int | None:
            verify = ssl.create_default_context(cafile=str(self.ca_path))
            with contextlib.suppress(httpx.HTTPError), httpx.Client(verify=verify, timeout=2) as c:
                response = c.get(
                    f"https://127.0.0.1:{SNI_PORT}/v1/models",
                    headers={"host": "api.openai.com"},
                    extensions={"sni_hostname": "api.openai.com"},
                )
                value = response.headers.get("x-candela-policy-version")
                return int(value) if value is not None else None
            return None

        return self.ns.call(probe)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.policy_version() is None:
            if self.listener.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"SNI listener not ready:\n{self.log()}")
            time.sleep(0.1)

    def sync(self, timeout: float = 10.0) -> None:
        """Announce a new policy version and wait until the listener's gateway has it."""
        wanted = time.time_ns() // 1000
        client = redis_lib.Redis.from_url(settings.REDIS_URL)
        try:
            client.set(POLICY_VERSION_KEY, wanted)
        finally:
            client.close()
        deadline = time.monotonic() + timeout
        while (self.policy_version() or 0) < wanted:
            if time.monotonic() > deadline:
                raise AssertionError(f"listener did not load policy v{wanted}:\n{self.log()}")
            time.sleep(0.05)


def _listener_env(ns: Netns, home: Path, ca_dir: Path, unknown: str, cleanup) -> dict[str, str]:
    pg = Bridge(ns, _database_target())
    redis_host, redis_port, redis_db = redis_host_port()
    rd = Bridge(ns, (redis_host, redis_port))
    cleanup.extend((pg.close, rd.close))
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "candela.settings",
        "DATABASE_URL": database_url(host="127.0.0.1", port=pg.port),
        "REDIS_URL": f"redis://127.0.0.1:{rd.port}/{redis_db}",
        "CANDELA_SECRET_KEY": settings.SECRET_KEY,
        "CANDELA_HOME": str(home),
        "CANDELA_SPOOL_DIR": str(home / "spool"),
        "CANDELA_CA_DIR": str(ca_dir),
        "CANDELA_SNI_PORT": str(SNI_PORT),
        "CANDELA_SNI_UNKNOWN": unknown,
        "CANDELA_EGRESS_USER": str(CANDELA_UID),
        "CANDELA_POLICY_REFRESH_SECONDS": "0.2",
        "CANDELA_LOG_LEVEL": "INFO",
    }


def _database_target() -> tuple[str, int]:
    from django.db import connection

    conf = connection.settings_dict
    return conf.get("HOST") or "127.0.0.1", int(conf.get("PORT") or 5432)


@contextlib.contextmanager
def enforced_namespace(*, unknown: str = "refuse") -> Iterator[Enforced]:
    ns = Netns()
    workdir = Path(tempfile.mkdtemp(prefix="candela-netns-"))
    cleanup: list[Callable[[], None]] = [ns.delete, lambda: shutil.rmtree(workdir, True)]
    try:
        workdir.chmod(0o755)
        home, ca_dir = workdir / "home", workdir / "ca"
        home.mkdir()
        os.chown(home, CANDELA_UID, CANDELA_UID)
        ca = CertificateAuthority.create(ca_dir)
        ca.chown(CANDELA_UID, CANDELA_UID)
        env = _listener_env(ns, home, ca_dir, unknown, cleanup)
        applied = ns.run([sys.executable, "-m", "ebpf", "iptables", "--apply"], env=env)
        if applied.returncode != 0:
            pytest.fail(f"iptables in the namespace failed (kernel refused?): {applied.stderr}")
        fake = ns.call(lambda: FakeProvider(host=PROVIDER_IP, port=443).start())
        cleanup.insert(0, fake.stop)
        service = TlsService(ns, workdir / "internal-ca")
        cleanup.insert(0, service.close)
        log_path = workdir / "listener.log"
        log = log_path.open("wb")
        listener = subprocess.Popen(
            ns.command(
                [sys.executable, "-m", "ebpf", "listen", "--refresh-seconds", "0.5"],
                uid=CANDELA_UID,
            ),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        cleanup.insert(0, lambda: _stop(listener, log))
        enforced = Enforced(ns, ca.cert_path, fake, service, listener, log_path)
        enforced.wait_ready()
        yield enforced
    finally:
        for step in cleanup:
            step()


def _stop(process: subprocess.Popen, log) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    log.close()


@pytest.fixture(scope="module")
def enforced(django_db_setup) -> Iterator[Enforced]:
    with enforced_namespace() as env:
        yield env


@pytest.fixture
def setup(enforced, operator, redis_client) -> Setup:
    enforced.fake.reset()
    built = Setup(operator=operator, fake=enforced.fake)
    built.route()  # provider "fake-openai": http://203.0.113.20:443/v1
    return built


def _audited(request_id: str, timeout: float = 10.0) -> AuditEvent:
    deadline = time.monotonic() + timeout
    while True:
        event = AuditEvent.objects.filter(request_id=request_id, kind="llm_request").first()
        if event is not None or time.monotonic() > deadline:
            assert event is not None, f"no audit event for {request_id}"
            return event
        time.sleep(0.05)


# --- tests ------------------------------------------------------------------------


@pytest.mark.usefixtures("gw_db")
def test_client_calling_api_openai_com_is_governed_and_audited(
    enforced, setup, operator, tenant_a, dev_a
):
    _, allowed = setup.key(dev_a, name="allowed")
    _, claude_only = setup.key(dev_a, name="claude-only", allowed_models=["claude-*"])
    broke = create_user(
        actor=operator, email="broke@acme.test", tenant=tenant_a, role=Role.DEVELOPER,
        daily_budget_usd=Decimal("0"),
    )  # fmt: skip
    _, broke_key = setup.key(broke, name="broke")
    enforced.sync()

    served, denied_model, denied_budget = enforced.client(
        ["chat", allowed], ["chat", claude_only], ["chat", broke_key]
    )

    assert served["status"] == 200, (served, enforced.log())
    assert served["content"] == "echo: hello there"
    assert (denied_model["status"], denied_model["code"]) == (403, "model_not_allowed")
    assert (denied_budget["status"], denied_budget["code"]) == (402, "budget_exceeded")
    # Only the governed, allowed call reached the provider, with Candela's credential.
    (upstream,) = enforced.fake.requests
    assert upstream.path == "/v1/chat/completions"
    assert upstream.header("authorization") == "Bearer sk-upstream-secret"
    assert not enforced.fake.saw(allowed)
    ids = [served["request_id"], denied_model["request_id"], denied_budget["request_id"]]
    records = {r.request_id: r for r in wait_for_records(ids)}
    assert (records[ids[0]].decision, records[ids[0]].status_code) == ("allowed", 200)
    assert (records[ids[1]].reason, records[ids[1]].status_code) == ("model_not_allowed", 403)
    assert (records[ids[2]].reason, records[ids[2]].status_code) == ("budget_exceeded", 402)
    for request_id in ids:
        event = _audited(request_id)
        assert event.tenant_id == tenant_a.id


def test_other_users_cannot_reach_the_provider_directly(enforced):
    before = enforced.fake.request_count
    cafile = str(enforced.ca_path)
    plain, tls, by_name = enforced.client(
        ["http", PROVIDER_IP, 443, "/v1/models"],
        ["tls", PROVIDER_IP, 443, "api.openai.com", cafile],
        ["tls", "api.openai.com", 443, "api.openai.com", cafile],
    )
    # Plain HTTP to the provider's address lands on Candela's TLS listener: refused.
    assert "response" not in plain or not plain["response"].startswith("HTTP/"), plain
    # A TLS client gets Candela, with a leaf from Candela's CA, whatever address it dialled.
    assert tls["issuer"].startswith("Candela local CA"), tls
    assert by_name["issuer"].startswith("Candela local CA"), by_name
    assert enforced.fake.request_count == before
    # Candela's own uid is exempt: the provider is reachable, so only the rule stopped the client.
    (own,) = enforced.client(["http", PROVIDER_IP, 443, "/v1/models"], uid=CANDELA_UID)
    assert own["response"].startswith("HTTP/1.1 200"), own


def test_unknown_host_is_refused_not_passed_through(enforced):
    (result,) = enforced.client(
        ["tls", "internal.example", 443, "internal.example", str(enforced.ca_path)]
    )
    assert "UNRECOGNIZED_NAME" in result["error"].upper(), result
    assert enforced.service.connections == 0


def test_quic_is_rejected_for_other_users_so_clients_fall_back_to_tcp(enforced):
    received: list[bytes] = []
    sock = enforced.ns.call(_listen, SERVICE_IP, 443, socket.SOCK_DGRAM)
    sock.settimeout(0.5)

    def drain() -> None:
        with contextlib.suppress(OSError):
            while True:
                received.append(sock.recvfrom(100)[0])

    (client,) = enforced.client(["udp", SERVICE_IP, 443])
    (own,) = enforced.client(["udp", SERVICE_IP, 443], uid=CANDELA_UID)
    drain()
    sock.close()
    assert client["blocked"] in {"ConnectionRefusedError", "PermissionError"}, client
    assert own["blocked"] is None, own
    assert received == [b"quic initial"]  # Candela's datagram only


@pytest.mark.usefixtures("gw_db")
def test_passthrough_splices_unknown_hosts_but_never_to_a_provider(operator, redis_client):
    # A provider whose base_url is an address: passthrough must never splice to it.
    create_provider(
        actor=operator, name="fake-openai", kind="openai", base_url=f"http://{PROVIDER_IP}:443/v1"
    )
    with enforced_namespace(unknown="passthrough") as env:
        service_ca = str(env.service.ca.cert_path)
        spliced, to_provider = env.client(
            ["tls", "internal.example", 443, "internal.example", service_ca, "ping"],
            ["http", PROVIDER_IP, 443, "/v1/models"],
        )
    # The service's own certificate and answer: the bytes went through untouched.
    assert spliced == {"issuer": "internal.example CA", "reply": "echo: ping"}, spliced
    assert "response" not in to_provider or not to_provider["response"].startswith("HTTP/"), (
        to_provider
    )
    assert env.fake.request_count == 0


def test_iptables_apply_is_idempotent_and_remove_takes_everything_out():
    # The CLI's --apply runs in every namespace above; here its steps run twice, then --remove's.
    plan = RedirectPlan(owner=str(CANDELA_UID), port=SNI_PORT)
    ns = Netns()
    try:
        ns.call(execute, plan.apply_steps())
        ns.call(execute, plan.apply_steps())
        for tool in ("iptables", "ip6tables"):
            rules = ns.run([f"{tool}-save"]).stdout.splitlines()
            assert rules.count("-A OUTPUT -j CANDELA_EGRESS") == 2  # nat and filter, once each
            assert sum(f"REDIRECT --to-ports {SNI_PORT}" in rule for rule in rules) == 1
            assert sum("--dport 443" in rule and "REJECT" in rule for rule in rules) == 1
        ns.call(execute, plan.remove_steps())
        for tool in ("iptables", "ip6tables"):
            assert "CANDELA_EGRESS" not in ns.run([f"{tool}-save"]).stdout
    finally:
        ns.delete()
