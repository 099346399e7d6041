"""Authentication: the request's `ck-…` key, looked up by digest in the snapshot."""

from __future__ import annotations

from urllib.parse import parse_qs

from gateway.errors import Denial
from governance.snapshot import KeyPolicy, PolicySnapshot
from tenants.tokens import digest_secret, is_well_formed

KEY_TAG = "ck"


def _denied(message: str) -> Denial:
    return Denial("invalid_api_key", message)


def raw_key(headers: dict[bytes, bytes], query_string: bytes) -> str:
    """The key from `Authorization: Bearer`, `x-api-key`, `x-goog-api-key` or `?key=`."""
    auth = headers.get(b"authorization")
    if auth is not None:
        scheme, _, value = auth.partition(b" ")
        if scheme.lower() == b"bearer":
            return value.strip().decode("latin-1")
    for name in (b"x-api-key", b"x-goog-api-key"):
        value = headers.get(name)
        if value is not None:
            return value.strip().decode("latin-1")
    if b"key=" in query_string:
        found = parse_qs(query_string.decode("latin-1")).get("key")
        if found:
            return found[0]
    return ""


class Authenticator:
    """Unknown, malformed, revoked or expired keys (or a deactivated owner) get 401."""

    def __call__(
        self, headers: dict[bytes, bytes], query_string: bytes, snapshot: PolicySnapshot, now: float
    ) -> KeyPolicy:
        raw = raw_key(headers, query_string)
        if not raw:
            raise _denied("No API key provided: send 'Authorization: Bearer ck-…'.")
        if not is_well_formed(raw, KEY_TAG):
            raise _denied("Incorrect API key provided.")
        key = snapshot.key(digest_secret(raw))
        if key is None:
            raise _denied("Incorrect API key provided.")
        if key.revoked:
            raise _denied("This API key has been revoked.")
        if not key.usable_at(now):
            raise _denied("This API key has expired or its owner is deactivated.")
        return key
