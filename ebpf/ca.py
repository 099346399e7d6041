"""Candela's local certificate authority and the short-lived leaf certificates it mints.

`candela ebpf ca` creates `ca.pem` (public, for workloads to trust) and
`ca-key.pem` (0600, readable only by the user that runs the SNI listener) in
CANDELA_CA_DIR. The listener mints one leaf per intercepted server name, with
that name as its only SAN and a validity of one day.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CA_LIFETIME = dt.timedelta(days=3650)
LEAF_LIFETIME = dt.timedelta(days=1)
# Leaves start an hour in the past so a client with a slightly slow clock accepts them.
CLOCK_SKEW = dt.timedelta(hours=1)


class CaError(Exception):
    """The CA is missing, unreadable or already exists; the message says which."""


@dataclass(frozen=True)
class Leaf:
    cert_pem: bytes
    key_pem: bytes
    not_after: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@dataclass(frozen=True)
class CertificateAuthority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    directory: Path

    @property
    def cert_path(self) -> Path:
        return self.directory / CA_CERT_FILE

    @property
    def key_path(self) -> Path:
        return self.directory / CA_KEY_FILE

    @property
    def fingerprint(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex(":").upper()

    @classmethod
    def create(cls, directory: Path, *, common_name: str | None = None) -> CertificateAuthority:
        directory = Path(directory)
        if (directory / CA_CERT_FILE).exists() or (directory / CA_KEY_FILE).exists():
            raise CaError(f"a CA already exists in {directory}")
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Candela"),
                x509.NameAttribute(
                    NameOID.COMMON_NAME, common_name or f"Candela local CA ({socket.gethostname()})"
                ),
            ]
        )
        now = _now()
        public = key.public_key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256())
        )
        # Key first, exclusively: a crash never leaves a certificate without its key.
        _write_private(
            directory / CA_KEY_FILE,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        cert_path = directory / CA_CERT_FILE
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        cert_path.chmod(0o644)
        return cls(cert=cert, key=key, directory=directory)

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        directory = Path(directory)
        try:
            cert = x509.load_pem_x509_certificate((directory / CA_CERT_FILE).read_bytes())
            key = serialization.load_pem_private_key(
                (directory / CA_KEY_FILE).read_bytes(), password=None
            )
        except FileNotFoundError as exc:
            raise CaError(
                f"no CA in {directory} ({exc.filename} is missing); create it with `candela ebpf ca`"
            ) from exc
        except PermissionError as exc:
            raise CaError(
                f"{exc.filename} is not readable by uid {os.getuid()}; "
                "give the CA key to the user that runs the listener (`candela ebpf ca --owner`)"
            ) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CaError(f"{directory / CA_KEY_FILE} is not an EC private key")
        return cls(cert=cert, key=key, directory=directory)

    @classmethod
    def load_or_create(cls, directory: Path) -> tuple[CertificateAuthority, bool]:
        if (Path(directory) / CA_CERT_FILE).exists():
            return cls.load(directory), False
        return cls.create(directory), True

    def chown(self, uid: int, gid: int) -> None:
        """Hand the key to the listener's user (run as root by the installer)."""
        os.chown(self.key_path, uid, gid)
        os.chown(self.cert_path, uid, gid)

    def issue(self, host: str, *, lifetime: dt.timedelta = LEAF_LIFETIME) -> Leaf:
        """A server certificate for exactly `host`, signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        not_after = min(now + lifetime, self.cert.not_valid_after_utc)
        try:
            alt_name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            alt_name = x509.DNSName(host)
        public = key.public_key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self.cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([alt_name]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return Leaf(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            not_after=not_after,
        )


def trust_instructions(ca: CertificateAuthority) -> str:
    path = ca.cert_path
    return f"""Candela CA: {path}
SHA-256 fingerprint: {ca.fingerprint}

Workloads whose LLM traffic is redirected to Candela must trust this CA.

System-wide (every TLS client that uses the OS store):
  Debian/Ubuntu:  cp {path} /usr/local/share/ca-certificates/candela.crt && update-ca-certificates
  RHEL/Fedora:    cp {path} /etc/pki/ca-trust/source/anchors/candela.pem && update-ca-trust
  Alpine:         cp {path} /usr/local/share/ca-certificates/candela.crt && update-ca-certificates

Per process (these replace the default bundle, so point them at a bundle that
also holds the public roots, e.g. the system bundle after update-ca-certificates):
  Python (requests):            export REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
  Python (httpx, openai, ssl):  export SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
  Node.js (adds to its roots):  export NODE_EXTRA_CA_CERTS={path}
  curl:                         curl --cacert {path} ...

Keep {path.parent / CA_KEY_FILE} readable only by the user that runs `candela ebpf listen`:
whoever holds it can impersonate any host to the workloads that trust this CA.
"""
