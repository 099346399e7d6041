"""Server-side TLS contexts, one per intercepted host, minted on demand and cached."""

from __future__ import annotations

import datetime as dt
import ssl
import tempfile
from pathlib import Path

from ebpf.ca import CertificateAuthority, Leaf

# Re-mint a leaf this long before it expires, so no handshake gets a dying certificate.
RENEW_BEFORE = dt.timedelta(hours=1)


def server_context(leaf: Leaf) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # The listener speaks HTTP/1.1 only; offering h2 would break clients that pick it.
    context.set_alpn_protocols(["http/1.1"])
    # SSLContext loads keys from files only: write them to a private temporary
    # directory (0700, removed at once) instead of keeping them on disk.
    with tempfile.TemporaryDirectory(prefix="candela-leaf-") as tmp:
        cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(leaf.cert_pem)
        key_file.touch(mode=0o600)
        key_file.write_bytes(leaf.key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context


class LeafContexts:
    """Per-host SSLContexts for one listener process (owned by it, never shared)."""

    def __init__(self, ca: CertificateAuthority) -> None:
        self._ca = ca
        self._cache: dict[str, tuple[ssl.SSLContext, dt.datetime]] = {}

    def for_host(self, host: str) -> ssl.SSLContext:
        cached = self._cache.get(host)
        now = dt.datetime.now(dt.UTC)
        if cached is not None and cached[1] - now > RENEW_BEFORE:
            return cached[0]
        leaf = self._ca.issue(host)
        context = server_context(leaf)
        self._cache[host] = (context, leaf.not_after)
        return context
