"""Structured PII and secret detection as a pure function: ``detect(text)``.

Two stages:

1. **Prefilter.** One pass over the text finds *triggers*: loose patterns that
   every real value of a type contains (``@`` for e-mail, 3-2-4 digit shapes
   for SSNs, ``sk-`` / ``AKIA`` / ``eyJ`` / ``-----BEGIN`` for secrets, ...).
   With the ``hyperscan`` wheel all triggers are found in a single multi-pattern
   scan over the text (bytes, one byte per character so offsets match);
   without it the same triggers are found with ``str.find`` and ``re``.
2. **Validation.** Only around the triggers, a precise regex per type runs over
   a small window, followed by the format's own checks (Luhn and IIN ranges,
   SSA area/group/serial rules, NANP area/exchange digits, IPv6 parsing, JOSE
   header decoding, key-shape and entropy checks).

Findings are then made non-overlapping (secrets first, then the longer span)
and returned sorted by start. Nothing here logs or keeps the matched values.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable

from . import validators as v
from .types import (
    API_KEY,
    AWS_ACCESS_KEY,
    AWS_SECRET_KEY,
    CREDIT_CARD,
    EMAIL,
    IP_ADDRESS,
    JWT,
    PHONE,
    PRIVATE_KEY,
    SECRET_TYPES,
    SSN,
    Finding,
)

try:  # pragma: no cover - exercised implicitly when the wheel is present
    import hyperscan as _hs
except ImportError:  # pragma: no cover
    _hs = None

__all__ = ["detect", "engine_name"]

_A = re.ASCII
_X = re.VERBOSE

# --------------------------------------------------------------------------
# Stage 1: triggers
# --------------------------------------------------------------------------
# Each trigger is a loose pattern contained in every value that the precise
# regex of its kind accepts (checked by the tests: both prefilters agree with
# each other on every fixture). Windowed kinds open a window around the match
# end; anchored kinds have a fixed length, so the value starts at end - length.
T_EMAIL, T_IPV4, T_PHONE, T_SSN, T_CC, T_CC2, T_IPV6, T_AWS40 = range(8)
(
    T_SK,
    T_STRIPE,
    T_GH,
    T_GHPAT,
    T_SLACK,
    T_GOOGLE,
    T_AWSID,
    T_PEM,
    T_PEM64,
    T_JWT,
    T_SLACKHOOK,
) = range(8, 19)

# (id, pattern, caseless); the {..} pieces are boundaries, see _BOUNDS.
_TRIGGERS: list[tuple[int, str, bool]] = [
    # windowed kinds: the precise regex runs in a window around the match end
    (T_EMAIL, r"[A-Za-z0-9_%+\-]@", False),
    (T_IPV4, r"{IP<}\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}", False),
    (T_PHONE, r"{ND<}1?\d{3}[).\-/ ]{0,2}\d{3}[.\- ]?\d{4}{>ND}", False),
    (T_SSN, r"{ND<}\d{3}[.\- ]?\d{2}[.\- ]?\d{4}{>ND}", False),
    (T_CC, r"{ND<}\d{4}[ \-]?\d{4}[ \-]?\d{4}", False),
    (T_CC2, r"{ND<}\d{4}[ \-]\d{6}[ \-]\d{4}", False),
    # every IPv6 text form has a "::" or at least six groups before a ':' / '.'
    (
        T_IPV6,
        r"{NH<}(?:(?:[0-9A-Fa-f]{1,4}:){1,7}:|::|(?:[0-9A-Fa-f]{1,4}:){6}[0-9A-Fa-f]{1,4}[:.])",
        False,
    ),
    # AWS secret keys are only looked for after a context keyword (and after
    # an access key id, see _EXTRA_WINDOW)
    (T_AWS40, r"aws|secret", True),
    # anchored kinds: fixed-length shapes, so start = end - length
    (T_SK, r"{TOK<}sk-[A-Za-z0-9_\-]{32}", False),
    (T_STRIPE, r"{TOK<}[sr]k_(?:live|test|prod)_[A-Za-z0-9]{16}", False),
    (T_GH, r"{TOK<}gh[pousr]_[A-Za-z0-9]{36}", False),
    (T_GHPAT, r"{TOK<}github_pat_[A-Za-z0-9_]{30}", False),
    (T_SLACK, r"{TOK<}xox[abeoprs][\-.][A-Za-z0-9.\-]{8}", False),
    (T_GOOGLE, r"{TOK<}AIza[0-9A-Za-z_\-]{35}", False),
    (T_AWSID, r"{TOK<}(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}", False),
    (T_PEM, r"-----BEGIN", False),
    (T_PEM64, r"{B64<}LS0tLS1CRUdJTi", False),
    (T_JWT, r"{TOK<}eyJ[A-Za-z0-9_\-]{4}", False),
    (T_SLACKHOOK, r"hooks\.slack\.com/", False),
]
_LIT_LEN = {
    T_SK: 35,
    T_STRIPE: 24,
    T_GH: 40,
    T_GHPAT: 41,
    T_SLACK: 13,
    T_GOOGLE: 39,
    T_AWSID: 20,
    T_PEM: 10,
    T_PEM64: 14,
    T_JWT: 7,
    T_SLACKHOOK: 16,
}
# Boundaries keep digit runs, hex runs and long tokens from reporting a match
# at every offset. Hyperscan has no look-around, so there the boundary
# character itself is matched (windows and fixed lengths absorb it); the
# Python fallback uses the equivalent look-arounds.
_BOUNDS = {
    "hs": {
        "{ND<}": r"(?:^|[^0-9])",
        "{>ND}": r"(?:[^0-9]|$)",
        "{IP<}": r"(?:^\.?|[^0-9.]|[^0-9]\.)",
        "{NH<}": r"(?:^|[^0-9A-Fa-f:])",
        "{TOK<}": r"(?:^|[^A-Za-z0-9_\-])",
        "{B64<}": r"(?:^|[^A-Za-z0-9/+_\-])",
    },
    "py": {
        "{ND<}": r"(?<![0-9])",
        "{>ND}": r"(?![0-9])",
        "{IP<}": r"(?<![0-9])(?<![0-9]\.)",
        "{NH<}": r"(?<![0-9A-Fa-f:])",
        "{TOK<}": r"(?<![A-Za-z0-9_\-])",
        "{B64<}": r"(?<![A-Za-z0-9/+_\-])",
    },
}


def _trigger_patterns(flavour: str) -> list[tuple[int, str, bool]]:
    out = []
    for tid, pat, caseless in _TRIGGERS:
        for k, rep in _BOUNDS[flavour].items():
            pat = pat.replace(k, rep)
        out.append((tid, pat, caseless))
    return out


# windowed triggers: (chars before, chars after) the match end
_WINDOW = {
    T_EMAIL: (70, 260),
    T_IPV4: (64, 64),
    T_PHONE: (64, 64),
    T_SSN: (64, 64),
    T_CC: (64, 64),
    T_CC2: (64, 64),
    T_IPV6: (80, 80),
    T_AWS40: (6, 200),
}
# anchored kinds that also open a window of another kind: (kind, before, after)
_EXTRA_WINDOW = {T_AWSID: (T_AWS40, 0, 220)}
_KIND_OF = {T_CC2: T_CC}


class _HyperscanPrefilter:
    name = "hyperscan"

    def __init__(self) -> None:
        assert _hs is not None
        db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        triggers = _trigger_patterns("hs")
        db.compile(
            expressions=[p.encode() for _, p, _ in triggers],
            ids=[i for i, _, _ in triggers],
            elements=len(triggers),
            flags=[_hs.HS_FLAG_CASELESS if ci else 0 for _, _, ci in triggers],
        )
        self._db = db
        self._local = threading.local()

    def _scratch(self):
        s = getattr(self._local, "scratch", None)
        if s is None:
            s = _hs.Scratch(self._db)
            self._local.scratch = s
        return s

    def hits(self, text: str) -> list[tuple[int, int]]:
        # one byte per character, so byte offsets are character offsets
        data = text.encode("ascii") if text.isascii() else text.encode("ascii", "replace")
        out: list[tuple[int, int]] = []
        add = out.append

        def on_match(i: int, _frm: int, to: int, _flags: int, _ctx: object) -> None:
            add((i, to))

        self._db.scan(data, match_event_handler=on_match, scratch=self._scratch())
        return out


# anchored triggers: (needle, offset of the needle inside the shape)
_NEEDLES: dict[int, tuple[tuple[bytes, int], ...]] = {
    T_SK: ((b"sk-", 0),),
    T_STRIPE: ((b"k_live_", 1), (b"k_test_", 1), (b"k_prod_", 1)),
    T_GH: ((b"ghp_", 0), (b"gho_", 0), (b"ghu_", 0), (b"ghs_", 0), (b"ghr_", 0)),
    T_GHPAT: ((b"github_pat_", 0),),
    T_SLACK: ((b"xox", 0),),
    T_GOOGLE: ((b"AIza", 0),),
    T_AWSID: ((b"AKIA", 0), (b"ASIA", 0), (b"ABIA", 0), (b"ACCA", 0), (b"A3T", 0)),
    T_PEM: ((b"-----BEGIN", 0),),
    T_PEM64: ((b"LS0tLS1CRUdJTi", 0),),
    T_JWT: ((b"eyJ", 0),),
    T_SLACKHOOK: ((b"hooks.slack.com/", 0),),
}
# skeleton of the text for the numeric triggers: digit -> '0', '.' -> '.', else ' '
_SKELETON = bytes(
    ord("0") if chr(b).isdigit() and b < 128 else (ord(".") if b == ord(".") else ord(" "))
    for b in range(256)
)
_HEXCOLON = frozenset(b"0123456789abcdefABCDEF:")


class _PythonPrefilter:
    """The same triggers without hyperscan.

    ``bytes.find`` locates the literal parts (and, on a digit skeleton of the
    text, every 3-digit run and digit-dot-digit); the trigger regexes then run
    only there, so the result equals the hyperscan prefilter's up to duplicate
    hits.
    """

    name = "python-re"
    _NUMERIC = (T_IPV4, T_PHONE, T_SSN, T_CC, T_CC2)

    def __init__(self) -> None:
        pats = _trigger_patterns("py")
        self._rx = {i: re.compile(p, _A | (re.IGNORECASE if ci else 0)) for i, p, ci in pats}
        # one pass for all numeric kinds: a match of any of them triggers all
        # of them (their windows are wide enough for the others' end offsets)
        self._numeric = re.compile(
            "|".join(f"(?:{p})" for i, p, _ in pats if i in self._NUMERIC), _A
        )

    def hits(self, text: str) -> list[tuple[int, int]]:
        data = text.encode("ascii") if text.isascii() else text.encode("ascii", "replace")
        n = len(data)
        out: list[tuple[int, int]] = []
        rx = self._rx
        for tid, needles in _NEEDLES.items():
            r = rx[tid]
            length = _LIT_LEN[tid]
            for needle, off in needles:
                p = data.find(needle)
                while p != -1:
                    st = p - off
                    if st >= 0 and r.match(text, st):
                        out.append((tid, st + length))
                    p = data.find(needle, p + 1)
        # e-mail: '@' after a local-part character
        p = data.find(b"@")
        while p != -1:
            if p > 0 and _is_local(data[p - 1]):
                out.append((T_EMAIL, p + 1))
            p = data.find(b"@", p + 1)
        # AWS secret context keywords
        low = data.lower()
        for kw in (b"aws", b"secret"):
            p = low.find(kw)
            while p != -1:
                out.append((T_AWS40, p + len(kw)))
                p = low.find(kw, p + 1)
        # numeric kinds: windows around digit runs / digit-dot-digit
        spans: list[list[int]] = []
        skel = data.translate(_SKELETON)
        for needle in (b"000", b"0.0"):
            p = skel.find(needle)
            while p != -1:
                spans.append([max(0, p - 40), min(n, p + 56)])
                p = skel.find(needle, p + 16)
        numeric = self._NUMERIC
        for lo, hi in _merge(spans):
            for m in self._numeric.finditer(text, lo, hi):
                e = m.end()
                out.extend((tid, e) for tid in numeric)
        # IPv6: around colons with a hex digit or colon on both sides
        spans = []
        p = data.find(b":")
        while p != -1:
            if 0 < p < n - 1 and data[p - 1] in _HEXCOLON and data[p + 1] in _HEXCOLON:
                spans.append([max(0, p - 48), min(n, p + 48)])
                p = data.find(b":", p + 8)
            else:
                p = data.find(b":", p + 1)
        for lo, hi in _merge(spans):
            out.extend((T_IPV6, m.end()) for m in rx[T_IPV6].finditer(text, lo, hi))
        return out


_LOCAL_CH = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_%+-")


def _is_local(b: int) -> bool:
    return b in _LOCAL_CH


def _make_prefilter():
    if _hs is not None:
        try:
            return _HyperscanPrefilter()
        except _hs.error:  # pragma: no cover - e.g. a CPU without SSSE3
            return _PythonPrefilter()
    return _PythonPrefilter()


_PREFILTER = _make_prefilter()


def engine_name() -> str:
    """Which prefilter is in use: ``"hyperscan"`` or ``"python-re"``."""
    return _PREFILTER.name


# --------------------------------------------------------------------------
# Stage 2: precise patterns
# --------------------------------------------------------------------------
_EMAIL_RX = re.compile(
    r"""
    (?<![A-Za-z0-9._%+\-])
    [A-Za-z0-9_%+\-]+(?:\.[A-Za-z0-9_%+\-]+)*         # dot-atom local part
    @
    (?:[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?\.)+        # domain labels
    (?:[A-Za-z]{2,63}|xn--[A-Za-z0-9\-]{1,59})        # TLD: letters or punycode
    (?![A-Za-z0-9\-])(?!\.[^\W_])
    """,
    _X,
)

_OCT = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4_RX = re.compile(
    rf"""
    (?<![A-Za-z0-9_])(?<![0-9]\.)
    {_OCT}(?:\.{_OCT}){{3}}
    (?:/(?:3[0-2]|[12]?[0-9])(?![0-9]))?              # CIDR suffix
    (?![A-Za-z0-9_])(?!\.[0-9])
    """,
    _X | _A,
)

_IPV6_RX = re.compile(
    r"""
    (?<![A-Za-z0-9_:.])
    (?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)
    (?P<addr>[0-9A-Fa-f:]{2,45}(?:\.[0-9]{1,3}){0,3})
    (?P<zone>%[A-Za-z0-9_\-]+)?
    (?P<cidr>/[0-9]{1,3}(?![0-9]))?
    """,
    _X | _A,
)

_PHONE_RX = re.compile(
    r"""
    (?<![A-Za-z0-9_+])(?<![0-9][.\-])
    (?:(?:\+[ ]?1|\(\+?1\)|1)[ .\-]?)?                 # NANP country code
    (?:\([ ]?[2-9][0-9]{2}[ ]?\)[ .\-]?|[2-9][0-9]{2}[ .\-/]?)   # area code NXX
    [2-9][0-9]{2}[ .\-]?[0-9]{4}                       # exchange NXX, line
    (?:[ \t]*,?[ \t]*(?:ext(?:ension)?\.?|x|\#)[ \t]*:?[ \t]*[0-9]{1,7})?
    (?![A-Za-z0-9_])(?![.\-/][0-9])
    """,
    _X | _A | re.IGNORECASE,
)

_SSN_RX = re.compile(
    r"""
    (?<![A-Za-z0-9_])(?<![0-9][.\-])
    (?:
        (?P<a>[0-9]{3})(?P<s>[ .\-])(?P<g>[0-9]{2})(?P=s)(?P<n>[0-9]{4})
      | (?P<ba>[0-9]{3})(?P<bg>[0-9]{2})(?P<bn>[0-9]{4})
    )
    (?![A-Za-z0-9_])(?![.\-][0-9])
    """,
    _X | _A,
)
_SSN_CONTEXT_RX = re.compile(
    r"\b(?:ssns?|social[\s\-]*security|soc\.?[\s\-]*sec|ss[\s\-]*(?:\#|no\b|num))",
    re.IGNORECASE,
)

_CC_RX = re.compile(
    r"""
    (?<![A-Za-z0-9_])(?<![0-9][.,])
    (?:
        (?P<bare>[0-9]{13,19})
      | (?P<dash>[0-9]{4}(?:-[0-9]{1,6}){2,4})
      | (?P<space>[0-9]{4}(?:[ ][0-9]{1,6}){2,4})
    )
    (?![A-Za-z0-9_])(?![.,][0-9])
    """,
    _X | _A,
)

# secrets: applied with .match() at the trigger's start
_SK_RX = re.compile(r"sk-[A-Za-z0-9_\-]{32,400}(?![A-Za-z0-9_\-])", _A)
_STRIPE_RX = re.compile(r"[sr]k_(?:live|test|prod)_([A-Za-z0-9]{16,})(?![A-Za-z0-9_])", _A)
_GH_RX = re.compile(r"gh[pousr]_([A-Za-z0-9]{36,255})(?![A-Za-z0-9_])", _A)
_GHPAT_RX = re.compile(r"github_pat_([A-Za-z0-9_]{30,255})(?![A-Za-z0-9_])", _A)
_SLACK_RX = re.compile(
    r"xox[abeoprs](?:\.xox[abeoprs])?-([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)(?![A-Za-z0-9_\-])", _A
)
_SLACKHOOK_RX = re.compile(
    r"(?:https?://)?hooks\.slack\.com/(?:services|workflows)/"
    r"[A-Za-z0-9_]+/[A-Za-z0-9_]+/(?:[0-9]+/)?[A-Za-z0-9_]{8,}(?![A-Za-z0-9_])",
    _A,
)
_GOOGLE_RX = re.compile(r"AIza([0-9A-Za-z_\-]{35})(?![0-9A-Za-z_\-])", _A)
_AWSID_RX = re.compile(r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])([A-Z0-9]{16})(?![A-Za-z0-9])", _A)
# standard-base64 40-char token; a neighbour from the base64url alphabet means
# it is a slice of a longer token (e.g. a sha256=... digest), not a key
_AWS_SECRET_RX = re.compile(r"(?<![A-Za-z0-9/+_\-])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=_\-])", _A)
_JWT_RX = re.compile(r"eyJ[A-Za-z0-9_\-]{4,}(?:\.[A-Za-z0-9_\-]*){2,4}(?![A-Za-z0-9_\-])", _A)
_PEM_BEGIN_RX = re.compile(r"-----BEGIN[ ](?:[A-Z0-9]+[ ])*PRIVATE[ ]KEY(?:[ ]BLOCK)?-----", _A)
_PEM_END_RX = re.compile(r"-----END[ ](?:[A-Z0-9]+[ ])*PRIVATE[ ]KEY(?:[ ]BLOCK)?-----", _A)
_B64_RUN_RX = re.compile(r"[A-Za-z0-9+/=]{16}", _A)
_PEM64_RX = re.compile(
    r"LS0tLS1CRUdJTi[A-Za-z0-9+/]*={0,2}(?:\r?\n[A-Za-z0-9+/]{16,}={0,2}(?![^\r\n]))*", _A
)

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_WORDCH = _ALNUM | {"_"}
_PEM_MAX = 65536


class _Ctx:
    """Per-call state: the PEM headers seen (resolved in one pass at the end)."""

    __slots__ = ("pem",)

    def __init__(self) -> None:
        self.pem: list[int] = []


def _merge(spans: list[list[int]]) -> list[list[int]]:
    if len(spans) < 2:
        return spans
    spans.sort()
    merged = [spans[0]]
    for lo, hi in spans[1:]:
        last = merged[-1]
        if lo <= last[1]:
            if hi > last[1]:
                last[1] = hi
        else:
            merged.append([lo, hi])
    return merged


# ---------------------------------------------------------------- validators
Out = list[tuple[int, int, str]]  # (start, end, type)


def _win_iter(rx: re.Pattern[str], text: str, ws: int, we: int, n: int):
    """finditer over ``[ws, we)``; a match that reaches the window's end is
    re-matched on the whole text so the end of the window cannot cut it or
    hide its right-hand boundary."""
    edge = we - 16
    for m in rx.finditer(text, ws, we):
        if m.end() >= edge and we < n:
            m2 = rx.match(text, m.start())
            if m2 is None:
                continue
            yield m2
        else:
            yield m


def _email(text: str, ws: int, we: int, n: int, out: Out) -> None:
    for m in _win_iter(_EMAIL_RX, text, ws, we, n):
        s, e = m.span()
        at = text.index("@", s, e)
        if at - s <= 64 and e - at - 1 <= 253:
            out.append((s, e, EMAIL))


# a dotted quad right after one of these words is a version / section number
_VERSION_CTX_RX = re.compile(
    r"(?:\b(?:versions?|ver|release[ds]?|build|section|sections|chapter|clause|oid|rfc"
    r"|upgrade[ds]?|updated?|bump(?:ed)?|v8|node(?:js)?|python|firmware|kernel)\b|§)"
    r"[^\n]{0,12}$",
    re.IGNORECASE,
)


def _ipv4(text: str, ws: int, we: int, n: int, out: Out) -> None:
    for m in _win_iter(_IPV4_RX, text, ws, we, n):
        s, e = m.span()
        # semver-style suffix (1.2.3.4-beta, 1.2.3.4+build), file-name suffix
        # (1.2.3.4.tar.gz) or a package-name prefix (pkg-1.2.3.4)
        if e + 1 < n and text[e] in "-+." and text[e + 1].isalpha():
            continue
        if s >= 2 and text[s - 1] == "-" and text[s - 2].isalpha():
            continue
        if _VERSION_CTX_RX.search(text, max(0, s - 32), s):
            continue
        out.append((s, e, IP_ADDRESS))


def _ipv6(text: str, ws: int, we: int, n: int, out: Out) -> None:
    for m in _win_iter(_IPV6_RX, text, ws, we, n):
        addr = m.group("addr")
        e = m.end("addr")
        if e < n and (text[e] in _WORDCH or text[e] == ":"):
            continue  # the hex/colon run goes on: too long, or glued to a word
        trimmed = False
        # a trailing ':' or '.' is punctuation, not part of the address
        while addr and addr[-1] in ":." and not v.ipv6_ok(addr):
            addr = addr[:-1]
            e -= 1
            trimmed = True
        if not addr or not any("0" <= c <= "9" for c in addr) or not v.ipv6_ok(addr):
            continue
        if _looks_like_slice(addr):
            continue
        if not trimmed:
            if m.group("zone"):
                e = m.end("zone")
            cidr = m.group("cidr")
            if cidr and int(cidr[1:]) <= 128:
                e = m.end("cidr")
        # not glued to a word on the right ("fe80::1text")
        if e < n and text[e] in _WORDCH:
            continue
        out.append((m.start(), e, IP_ADDRESS))


def _looks_like_slice(addr: str) -> bool:
    """``1::4`` / ``16::`` / ``::2``: Python slices, ratios ... not addresses.

    A compressed address whose explicit groups are at most two short decimal
    numbers carries no hex group at all; real ones in text (``::1``,
    ``fe80::1``, ``2001:db8::1``, ``64:ff9b::1.2.3.4``) do, or are ``::1``.
    """
    if "::" not in addr or "." in addr or addr == "::1":
        return False
    groups = [g for g in addr.split(":") if g]
    return len(groups) <= 2 and all(len(g) <= 2 and g.isdigit() for g in groups)


# characters that make an undelimited digit run an identifier rather than a
# phone number: URL paths / fragments / query values, ticket ids, code spans
_ID_LEFT = frozenset("-/#=_.&?%@$:`")
_ID_RIGHT = frozenset("/=&%_`")


_WS = frozenset(" \t\r\n")


def _in_number_list(text: str, s: int, e: int, n: int) -> bool:
    """``123, 4155550132, 456``: one item of a comma/semicolon list of numbers."""
    i = s - 1
    while i >= 0 and s - i <= 16 and text[i] in _WS:
        i -= 1
    if i >= 1 and text[i] in ",;" and "0" <= text[i - 1] <= "9":
        return True
    if e < n and text[e] in ",;":
        j = e + 1
        while j < n and j - e <= 16 and text[j] in _WS:
            j += 1
        if j < n and "0" <= text[j] <= "9":
            return True
    return False


# 2**31 - 1, 2**31, 2**32 - 1, 2**32: integer limits that happen to be
# NANP-shaped and are everywhere in code
_INT_LIMITS = frozenset({"2147483647", "2147483648", "4294967295", "4294967296"})


def _phone(text: str, ws: int, we: int, n: int, out: Out) -> None:
    for m in _win_iter(_PHONE_RX, text, ws, we, n):
        s, e = m.span()
        if m.group(0).isdigit():
            if m.group(0) in _INT_LIMITS:
                continue
            # a bare 10/11-digit run is a phone number only as a free-standing word
            if (s > 0 and text[s - 1] in _ID_LEFT) or (e < n and text[e] in _ID_RIGHT):
                continue
            if _in_number_list(text, s, e, n):
                continue
        out.append((s, e, PHONE))


def _ssn(text: str, ws: int, we: int, n: int, out: Out) -> None:
    for m in _win_iter(_SSN_RX, text, ws, we, n):
        if m.group("a"):
            if v.ssn_ok(m.group("a"), m.group("g"), m.group("n")):
                out.append((m.start(), m.end(), SSN))
            continue
        # bare nine digits only next to a context word
        if not v.ssn_ok(m.group("ba"), m.group("bg"), m.group("bn")):
            continue
        s, e = m.span()
        if _SSN_CONTEXT_RX.search(text, max(0, s - 48), s) or _SSN_CONTEXT_RX.search(
            text, e, min(n, e + 24)
        ):
            out.append((s, e, SSN))


def _cc(text: str, ws: int, we: int, n: int, out: Out) -> None:
    # like _win_iter, but a rejected candidate only consumes its first
    # character, so a card right after another number is still found
    pos = ws
    edge = we - 16
    while True:
        m = _CC_RX.search(text, pos, we)
        if m is None:
            return
        if m.end() >= edge and we < n:
            m2 = _CC_RX.match(text, m.start())
            if m2 is None:
                pos = m.start() + 1
                continue
            m = m2
        if _cc_one(text, m, n):
            out.append((m.start(), m.end(), CREDIT_CARD))
            pos = m.end()
        else:
            pos = m.start() + 1


def _cc_one(text: str, m: re.Match[str], n: int) -> bool:
    s, e = m.span()
    bare = m.group("bare")
    if bare:
        # a digit run that is a URL path segment / fragment / identifier part
        if (s > 0 and text[s - 1] in "/#_") or (e < n and text[e] in "/_"):
            return False
        return not _in_number_list(text, s, e, n) and v.card_ok(bare)
    sep = "-" if m.group("dash") else " "
    # the group run must be maximal: no further group with this separator
    if e + 1 < n and text[e] == sep and "0" <= text[e + 1] <= "9":
        return False
    # ... and not the tail of a longer grouped identifier (IBAN "AT61 1904 ...")
    if s >= 2 and text[s - 1] == sep and text[s - 2] in _ALNUM:
        j = s - 2
        while j >= 0 and text[j] in _ALNUM:
            j -= 1
        if (sep == "-" or j < 0 or text[j] in " \t\r\n") and any(
            "0" <= c <= "9" for c in text[j + 1 : s - 1]
        ):
            return False
    groups = m.group(0).split(sep)
    sizes = [len(g) for g in groups]
    mid = sizes[1:-1]
    last = sizes[-1]
    # 4-4-4-4(-3) style groups, or the 4-6-5 / 4-6-4 Amex / Diners layout
    layout_ok = 1 <= last <= 4 if all(x == 4 for x in mid) else (mid == [6] and last in (4, 5))
    return layout_ok and v.card_ok("".join(groups))


def _sk(text: str, s: int, n: int, out: Out, ctx: _Ctx) -> None:
    m = _SK_RX.match(text, s)
    if m:
        body = m.group(0)[3:]
        if v.char_classes(body) == 3 and v.distinct_at_least(body, 12):
            out.append((s, m.end(), API_KEY))


def _simple(rx: re.Pattern[str], min_classes: int, min_distinct: int):
    def check(text: str, s: int, n: int, out: Out, ctx: _Ctx) -> None:
        m = rx.match(text, s)
        if m:
            body = m.group(1)
            if v.char_classes(body) >= min_classes and v.distinct_at_least(body, min_distinct):
                out.append((s, m.end(), API_KEY))

    return check


_stripe = _simple(_STRIPE_RX, 2, 10)
_gh = _simple(_GH_RX, 2, 10)
_ghpat = _simple(_GHPAT_RX, 2, 10)
_google = _simple(_GOOGLE_RX, 2, 10)


def _slack(text: str, s: int, n: int, out: Out, ctx: _Ctx) -> None:
    m = _SLACK_RX.match(text, s)
    if not m:
        return
    parts = m.group(1).split("-")
    last = parts[-1]
    ok = False
    if len(parts) >= 2 and len(last) >= 8 and not last.isdigit():
        # workspace / user ids are long numbers, the secret part follows
        ok = any(p.isdigit() and len(p) >= 6 for p in parts[:-1])
    if not ok and len(last) >= 40:
        # configuration / refresh tokens: a long opaque base62 part
        ok = v.char_classes(last) == 3 and v.distinct_at_least(last, 12)
    if ok:
        out.append((s, m.end(), API_KEY))


def _slackhook(text: str, s: int, n: int, out: Out, ctx: _Ctx) -> None:
    lo = max(0, s - 8)
    m = _SLACKHOOK_RX.search(text, lo, min(n, s + 400))
    if m and m.start() <= s:
        tail = m.group(0).rsplit("/", 1)[-1]
        if v.distinct_at_least(tail, 6):
            out.append((m.start(), m.end(), API_KEY))


_AWS_KW_RX = re.compile(r"aws|secret", re.IGNORECASE)
_AWSID_ANY_RX = re.compile(
    r"(?<![A-Za-z0-9_\-])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])", _A
)


def _aws_secret(text: str, ws: int, we: int, n: int, out: Out) -> None:
    """A 40-character base64 token is an AWS secret access key only in
    context: after an ``aws`` / ``secret`` keyword on the same line (the
    ``aws_secret_access_key = ...`` / ``secret: ...`` forms), or shortly after
    an access key id (id / secret pairs)."""
    for m in _win_iter(_AWS_SECRET_RX, text, ws, we, n):
        tok = m.group(0)
        if not (
            v.has_digit(tok) and any(c.isalpha() for c in tok) and v.distinct_at_least(tok, 10)
        ):
            continue
        s = m.start()
        line = text.rfind("\n", 0, s) + 1
        if _AWS_KW_RX.search(text, max(line, s - 160), s) or _AWSID_ANY_RX.search(
            text, max(0, s - 220), s
        ):
            out.append((s, m.end(), AWS_SECRET_KEY))


def _awsid(text: str, s: int, n: int, out: Out, ctx: _Ctx) -> None:
    m = _AWSID_RX.match(text, s)
    if not m:
        return
    body = m.group(1)
    if "EXAMPLE" in m.group(0) or body.count("X") == 16:
        return
    out.append((s, m.end(), AWS_ACCESS_KEY))


def _jwt(text: str, s: int, n: int, out: Out, ctx: _Ctx) -> None:
    m = _JWT_RX.match(text, s)
    if not m:
        return
    parts = m.group(0).split(".")
    keep = 5 if len(parts) == 5 and all(parts[1:]) else 3  # 5 = JWE compact form
    parts = parts[:keep]
    if len(parts) < 3 or not parts[1]:
        return
    if not v.jwt_header_ok(parts[0]):
        return
    out.append((s, s + sum(len(p) for p in parts) + keep - 1, JWT))


def _pem(text: str, s: int, n: int, out: Out, ctx: _Ctx) -> None:
    ctx.pem.append(s)


_BLANK_LINE_RX = re.compile(r"\n[ \t\r]*\n")


def _pem_blocks(text: str, starts: list[int], n: int, out: Out) -> None:
    """All PEM private-key blocks, in one forward pass (END markers, blank
    lines and base64 runs are each searched for at most once per position)."""
    starts = sorted(set(starts))
    end_starts: list[int] | None = None
    end_ends: list[int] = []
    blank_from, blank_at = -1, -1  # cache: first blank line at/after blank_from
    run_from, run_at = -1, -1  # cache: first base64 run at/after run_from
    last_end = -1
    for s in starts:
        if s < last_end:
            continue  # inside the previous block
        m = _PEM_BEGIN_RX.match(text, s)
        if not m:
            continue
        h = m.end()
        if end_starts is None:
            end_starts, end_ends = [], []
            for em in _PEM_END_RX.finditer(text, h):
                end_starts.append(em.start())
                end_ends.append(em.end())
        i = bisect_left(end_starts, h)
        if i < len(end_starts) and end_starts[i] - h <= _PEM_MAX:
            b_end, e = end_starts[i], end_ends[i]
        else:
            # no END marker: the block runs to the next blank line
            if not (blank_from <= h <= blank_at):
                bm = _BLANK_LINE_RX.search(text, h)
                blank_from, blank_at = h, (bm.start() if bm else n)
            e = min(blank_at, h + _PEM_MAX)
            while e > h and text[e - 1] in " \t\r\n":
                e -= 1
            b_end = e
        # key material is base64: require one run of it (placeholders like
        # "<key bytes>" or "..." between the armour lines are not keys)
        if not (run_from <= h <= run_at):
            rm = _B64_RUN_RX.search(text, h)
            run_from, run_at = h, (rm.start() if rm else n)
        if run_at + 16 <= b_end:
            out.append((s, e, PRIVATE_KEY))
            last_end = e


def _pem64(text: str, s: int, n: int, out: Out, ctx: _Ctx) -> None:
    m = _PEM64_RX.match(text, s)
    if not m:
        return
    head = m.group(0)[:80]
    head = head[: len(head) // 4 * 4]
    raw = v.b64url_decode(head.replace("+", "-").replace("/", "_"))
    if raw and b"PRIVATE KEY" in raw:
        out.append((s, m.end(), PRIVATE_KEY))


# literal trigger -> (validator, characters that must not precede the literal)
_TOKEN_LEFT = frozenset(_WORDCH | {"-"})
_NONE: frozenset[str] = frozenset()
_LITERAL: dict[int, tuple[Callable[[str, int, int, Out, _Ctx], None], frozenset[str]]] = {
    T_SK: (_sk, _TOKEN_LEFT),
    T_STRIPE: (_stripe, _TOKEN_LEFT),
    T_GH: (_gh, _TOKEN_LEFT),
    T_GHPAT: (_ghpat, _TOKEN_LEFT),
    T_SLACK: (_slack, _TOKEN_LEFT),
    T_GOOGLE: (_google, _TOKEN_LEFT),
    T_AWSID: (_awsid, _TOKEN_LEFT),
    T_PEM: (_pem, _NONE),
    T_PEM64: (_pem64, frozenset(_ALNUM | {"+", "/"})),
    T_JWT: (_jwt, _TOKEN_LEFT),
    T_SLACKHOOK: (_slackhook, _NONE),
}

_WINDOWED: dict[int, Callable[[str, int, int, int, Out], None]] = {
    T_EMAIL: _email,
    T_IPV4: _ipv4,
    T_PHONE: _phone,
    T_SSN: _ssn,
    T_CC: _cc,
    T_IPV6: _ipv6,
    T_AWS40: _aws_secret,
}
_SECRET_SET = frozenset(SECRET_TYPES)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------
def _candidates(text: str, hits: list[tuple[int, int]]) -> Out:
    n = len(text)
    out: Out = []
    ctx = _Ctx()
    windows: dict[int, list[list[int]]] = {}
    seen_lit: set[tuple[int, int]] = set()
    for tid, to in hits:
        if tid in _WINDOW:
            before, after = _WINDOW[tid]
            kind = _KIND_OF.get(tid, tid)
            lo = to - before if to > before else 0
            hi = to + after
            if hi > n:
                hi = n
            ws = windows.get(kind)
            if ws is None:
                windows[kind] = [[lo, hi]]
            else:
                last = ws[-1]
                if lo <= last[1] and hi >= last[0]:
                    if lo < last[0]:
                        last[0] = lo
                    if hi > last[1]:
                        last[1] = hi
                else:
                    ws.append([lo, hi])
            continue
        s = to - _LIT_LEN[tid]
        key = (tid, s)
        if key in seen_lit:
            continue
        seen_lit.add(key)
        fn, left_stop = _LITERAL[tid]
        if s > 0 and text[s - 1] in left_stop:
            continue
        fn(text, s, n, out, ctx)
        extra = _EXTRA_WINDOW.get(tid)
        if extra is not None:
            kind, before, after = extra
            windows.setdefault(kind, []).append([max(0, to - before), min(n, to + after)])
    for kind, spans in windows.items():
        fn = _WINDOWED[kind]
        for lo, hi in _merge(spans):
            fn(text, lo, hi, n, out)
    if ctx.pem:
        _pem_blocks(text, ctx.pem, n, out)
    return out


def _resolve(cands: Out) -> list[Finding]:
    """Make findings non-overlapping: within each cluster of overlapping
    candidates, secrets win over PII, then the longer span, then the earlier."""
    if not cands:
        return []
    secret = _SECRET_SET
    if len(cands) == 1:
        s, e, t = cands[0]
        return [Finding(t, s, e, t in secret)]
    cands = sorted(set(cands))
    result: list[Finding] = []
    cluster: Out = []
    c_end = -1
    for c in cands:
        if cluster and c[0] >= c_end:
            _pick(cluster, result)
            cluster = []
        c_end = c[1] if not cluster else max(c_end, c[1])
        cluster.append(c)
    _pick(cluster, result)
    return result


def _pick(cluster: Out, result: list[Finding]) -> None:
    secret = _SECRET_SET
    if len(cluster) == 1:
        s, e, t = cluster[0]
        result.append(Finding(t, s, e, t in secret))
        return
    order = sorted(cluster, key=lambda c: (c[2] not in secret, c[0] - c[1], c[0]))
    starts: list[int] = []  # accepted spans, sorted and non-overlapping
    ends: list[int] = []
    taken: Out = []
    for c in order:
        s, e, _ = c
        i = bisect_right(starts, s)
        if (i > 0 and ends[i - 1] > s) or (i < len(starts) and starts[i] < e):
            continue
        starts.insert(i, s)
        ends.insert(i, e)
        taken.append(c)
    taken.sort()
    result.extend(Finding(t, s, e, t in secret) for s, e, t in taken)


def detect(text: str) -> list[Finding]:
    """Find PII and secrets in ``text``.

    Returns non-overlapping :class:`Finding` objects sorted by ``start``.
    """
    if not text:
        return []
    hits = _PREFILTER.hits(text)
    if not hits:
        return []
    return _resolve(_candidates(text, hits))


def _detect_with(prefilter, text: str) -> list[Finding]:
    """Run with a given prefilter (tests compare both engines)."""
    if not text:
        return []
    hits = prefilter.hits(text)
    return _resolve(_candidates(text, hits)) if hits else []
