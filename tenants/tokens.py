"""Minting and checking bearer secrets (API keys `ck-…`, management tokens `cm-…`).

The raw secret is returned once; only a lookup prefix and a SHA-256 digest are
stored. 256 random bits make a plain digest safe (no password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import NamedTuple

PREFIX_LENGTH = 12
_WELL_FORMED = re.compile(r"^c[km]-[A-Za-z0-9_-]{43}$")


class MintedSecret(NamedTuple):
    raw: str
    prefix: str
    digest: str


def digest_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def mint_secret(tag: str) -> MintedSecret:
    raw = f"{tag}-{secrets.token_urlsafe(32)}"
    return MintedSecret(raw=raw, prefix=raw[:PREFIX_LENGTH], digest=digest_secret(raw))


def is_well_formed(raw: str, tag: str) -> bool:
    """Reject malformed secrets before any lookup."""
    return raw.startswith(f"{tag}-") and bool(_WELL_FORMED.match(raw))


def digest_matches(raw: str, digest: str) -> bool:
    return hmac.compare_digest(digest_secret(raw), digest)
