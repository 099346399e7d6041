"""`candela ebpf ca`: a private CA on disk, and leaves that real TLS clients accept."""

from __future__ import annotations

import datetime as dt
import io
import os
import socket
import ssl
import stat
import threading
from contextlib import redirect_stdout

import pytest
from cryptography import x509

from ebpf.ca import CaError, CertificateAuthority
from ebpf.cli import main as ebpf_main
from ebpf.tls import LeafContexts


def _ca_command(*args: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert ebpf_main(["ebpf", "ca", *args]) == 0
    return out.getvalue()


def test_ca_command_creates_the_ca_once_and_prints_how_to_trust_it(tmp_path):
    directory = tmp_path / "ca"
    first = _ca_command("--dir", str(directory))
    assert first.startswith(f"Created CA in {directory}")
    for hint in (
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "update-ca-certificates",
    ):
        assert hint in first
    assert stat.S_IMODE((directory / "ca-key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((directory / "ca.pem").stat().st_mode) == 0o644
    cert_before = (directory / "ca.pem").read_bytes()
    second = _ca_command("--dir", str(directory))
    assert second.startswith("Using the existing CA")
    assert (directory / "ca.pem").read_bytes() == cert_before
    ca = CertificateAuthority.load(directory)
    assert ca.fingerprint in first and ca.fingerprint in second
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0


def test_owner_gets_the_key(tmp_path):
    _ca_command("--dir", str(tmp_path), "--owner", "64321")
    assert (tmp_path / "ca-key.pem").stat().st_uid == 64321


def test_create_refuses_to_overwrite_and_load_explains_a_missing_ca(tmp_path):
    CertificateAuthority.create(tmp_path)
    with pytest.raises(CaError, match="already exists"):
        CertificateAuthority.create(tmp_path)
    with pytest.raises(CaError, match="candela ebpf ca"):
        CertificateAuthority.load(tmp_path / "elsewhere")


def test_leaf_names_exactly_one_host_and_lives_one_day(tmp_path):
    ca = CertificateAuthority.create(tmp_path)
    leaf = x509.load_pem_x509_certificate(ca.issue("api.openai.com").cert_pem)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["api.openai.com"]
    assert leaf.issuer == ca.cert.subject
    lifetime = leaf.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=23) < lifetime <= dt.timedelta(days=1)
    ip_leaf = x509.load_pem_x509_certificate(ca.issue("203.0.113.20").cert_pem)
    ip_names = ip_leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in ip_names.get_values_for_type(x509.IPAddress)] == ["203.0.113.20"]


def _handshake(server_context: ssl.SSLContext, client_context: ssl.SSLContext, name: str):
    """A real TLS handshake over a socket pair; the client's error, or None."""
    server_sock, client_sock = socket.socketpair()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            with server_context.wrap_socket(server_sock, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_context.wrap_socket(client_sock, server_hostname=name) as tls:
            tls.send(b"x")
    except ssl.SSLError as exc:
        errors.append(exc)
    finally:
        client_sock.close()
        thread.join(5)
    return errors[0] if errors else None


def test_clients_that_trust_the_ca_accept_the_leaf_for_that_name_only(tmp_path):
    ca = CertificateAuthority.create(tmp_path)
    contexts = LeafContexts(ca)
    trusting = ssl.create_default_context(cafile=str(ca.cert_path))
    # Python 3.13+ clients set VERIFY_X509_STRICT; the leaf must pass it too.
    trusting.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)
    assert _handshake(contexts.for_host("api.openai.com"), trusting, "api.openai.com") is None
    wrong_name = _handshake(contexts.for_host("api.openai.com"), trusting, "api.anthropic.com")
    assert isinstance(wrong_name, ssl.SSLCertVerificationError)
    stranger = ssl.create_default_context()  # the public roots only
    untrusted = _handshake(contexts.for_host("api.openai.com"), stranger, "api.openai.com")
    assert isinstance(untrusted, ssl.SSLCertVerificationError)
    # Cached: the same context for the same host until it nears expiry.
    assert contexts.for_host("api.openai.com") is contexts.for_host("api.openai.com")


def test_listener_user_without_the_key_gets_a_clear_error(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("this test runs as root (it drops to another uid to read the key)")
    CertificateAuthority.create(tmp_path)
    tmp_path.chmod(0o755)
    pid = os.fork()
    if pid == 0:  # child: become an unprivileged user and try to load the CA
        code = 1
        try:
            os.setgid(64322)
            os.setuid(64322)
            CertificateAuthority.load(tmp_path)
        except CaError as exc:
            code = 0 if "--owner" in str(exc) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
