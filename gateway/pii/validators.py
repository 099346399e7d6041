"""Checks applied to candidate matches, written from the formats' own rules.

All functions are pure and cheap; they are only called on candidates that the
prefilter and the precise regexes in :mod:`gateway.pii.detect` produced.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json


def luhn_ok(digits: str) -> bool:
    """ISO/IEC 7812 check digit (Luhn mod 10)."""
    total = 0
    parity = len(digits) % 2
    for i, ch in enumerate(digits):
        d = ord(ch) - 48
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_network_ok(digits: str) -> bool:
    """Is there a card network whose IIN range and length fit ``digits``?

    Ranges from the networks' published IIN tables (ISO/IEC 7812 major industry
    identifiers 1-6 plus UnionPay's 81 range); length per network.
    """
    n = len(digits)
    if n < 13 or n > 19:
        return False
    d1 = digits[0]
    p2 = int(digits[:2])
    p3 = int(digits[:3])
    p4 = int(digits[:4])
    p6 = int(digits[:6])
    if d1 == "4":  # Visa
        return n in (13, 16, 18, 19)
    if d1 == "5":
        if 51 <= p2 <= 55:  # Mastercard
            return n == 16
        return n >= 12  # Maestro (50, 56-59), Dankort 5019
    if d1 == "2":
        if 2221 <= p4 <= 2720:  # Mastercard 2-series
            return n == 16
        if 2200 <= p4 <= 2204:  # Mir
            return n >= 16
        return False
    if d1 == "3":
        if p2 in (34, 37):  # American Express
            return n == 15
        if 300 <= p3 <= 305 or p4 == 3095 or p2 in (36, 38, 39):  # Diners Club
            return n >= 14
        if 3528 <= p4 <= 3589:  # JCB
            return n >= 16
        return False
    if d1 == "6":
        # Discover (6011, 622126-622925, 644-649, 65), UnionPay (62), Maestro
        # (6304, 6759, 676x), RuPay (60, 65), InstaPayment (637-639) ...
        if p2 == 62 or 622126 <= p6 <= 622925:
            return n >= 14
        return n >= 16 or (n >= 12 and p2 in (63, 67))
    if d1 == "1":  # UATP
        return n == 15
    if d1 == "8":  # UnionPay 81xx
        return p2 == 81 and n >= 16
    return False


def card_ok(digits: str) -> bool:
    return card_network_ok(digits) and luhn_ok(digits)


# Published numbers the SSA has voided or that were used in advertising.
_SSN_VOID = frozenset({"078051120", "219099999", "123456789"})


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """SSA rules: area 001-899 except 666, group 01-99, serial 0001-9999."""
    if area == "000" or area == "666" or area[0] == "9":
        return False
    if group == "00" or serial == "0000":
        return False
    full = area + group + serial
    if full in _SSN_VOID:
        return False
    # all-identical digits (111-11-1111 ...) are placeholders, never issued
    return full.count(full[0]) != 9


def distinct_at_least(s: str, k: int) -> bool:
    return len(set(s)) >= k


def has_digit(s: str) -> bool:
    return any(c.isdigit() for c in s)


def char_classes(s: str) -> int:
    """Number of classes among lower, upper, digit present in ``s``."""
    lo = up = dg = 0
    for c in s:
        if "a" <= c <= "z":
            lo = 1
        elif "A" <= c <= "Z":
            up = 1
        elif "0" <= c <= "9":
            dg = 1
    return lo + up + dg


def b64url_decode(seg: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))
    except (binascii.Error, ValueError):
        return None


def jwt_header_ok(seg: str) -> bool:
    """The JOSE header decodes to a JSON object naming an ``alg``.

    A header that decodes to ``{...`` and contains ``"alg"`` but is not strict
    JSON (corrupted bytes inside) is still accepted: the token is still a
    bearer credential.
    """
    raw = b64url_decode(seg)
    if not raw or raw[:1] != b"{":
        return False
    try:
        obj = json.loads(raw)
    except ValueError:
        return b'"alg"' in raw
    return isinstance(obj, dict) and "alg" in obj


def ipv6_ok(addr: str) -> bool:
    # cheap shape check first: "::" or 7 colons (6 with an embedded IPv4)
    if "::" not in addr and addr.count(":") < (6 if "." in addr else 7):
        return False
    try:
        ipaddress.IPv6Address(addr)
    except ValueError:
        return False
    return True
