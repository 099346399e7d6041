"""Detector positives and negatives, per type, written from the formats.

Fake secrets are assembled at run time from a prefix and random characters so
that no credential-shaped string is committed to the repository.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import string

import pytest

from gateway.pii import Finding, detect, summarize
from gateway.pii import engine as engine_mod
from gateway.pii.validators import card_ok, luhn_ok

RNG = random.Random(20240611)
B62 = string.ascii_letters + string.digits


def rand(n: int, alphabet: str = B62, rng: random.Random = RNG) -> str:
    """Random token that contains lower, upper and digit characters."""
    while True:
        s = "".join(rng.choice(alphabet) for _ in range(n))
        if alphabet != B62 or (
            any(c.islower() for c in s)
            and any(c.isupper() for c in s)
            and any(c.isdigit() for c in s)
        ):
            return s


def found(text: str) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in detect(text)]


def types(text: str) -> set[str]:
    return {f.type for f in detect(text)}


def assert_only(text: str, kind: str, value: str) -> None:
    assert found(text) == [(kind, value)], found(text)


# ------------------------------------------------------------------ EMAIL
@pytest.mark.parametrize(
    "email",
    [
        "jane.doe@example.com",
        "JANE@EXAMPLE.ORG",
        "first+tag@mail.example.co.uk",
        "x@x.au",
        "user_name-1@sub.domain-name.io",
        "a@xn--80ak6aa92e.com",
        "a@xn--d1acufc.xn--p1ai",
        "o.neil@example.com",
    ],
)
def test_email_positive(email: str) -> None:
    assert_only(f"please write to {email} today", "EMAIL", email)
    assert_only(f"<{email}>.", "EMAIL", email)


def test_email_end_of_sentence_and_cjk_neighbours() -> None:
    assert_only("Mail me: jo@example.com.", "EMAIL", "jo@example.com")
    text = "他的电子邮箱是test@example.com\uff0c谢谢"
    assert found(text) == [("EMAIL", "test@example.com")]


@pytest.mark.parametrize(
    "text",
    [
        "my email is info@presidio.",
        "z@co.c",
        "john.smith@gmail..com",
        "follow @john_smith on twitter",
        "invalidemail@",
        "@invalid.com",
        "user@localhost",
        "a..b@example.com",
        "decorator @property def x",
        "user@2001:db8::1",  # host is an IP, not a domain (the IP is found instead)
    ],
)
def test_email_negative(text: str) -> None:
    assert "EMAIL" not in types(text)


# ------------------------------------------------------------------ SSN
@pytest.mark.parametrize("ssn", ["078-05-1123", "078 05 1123", "078.05.1123", "523-04-1234"])
def test_ssn_separated(ssn: str) -> None:
    assert_only(f"number {ssn} on file", "SSN", ssn)


@pytest.mark.parametrize(
    "text",
    ["My SSN is 372819127", "social security number: 078051121", "ssn#523041234"],
)
def test_ssn_bare_needs_context(text: str) -> None:
    assert "SSN" in types(text)


@pytest.mark.parametrize(
    "text",
    [
        "000-12-3456",  # area 000
        "666-12-3456",  # area 666
        "912-34-5678",  # 9xx (ITIN range)
        "987-65-4321",
        "123-00-4567",  # group 00
        "123-45-0000",  # serial 0000
        "111-11-1111",  # identical digits
        "123-45-6789",  # published sample
        "078-05-1120",  # voided Woolworth sample
        "078-05.1123",  # mixed separators
        "routing number 101205681",  # bare, no context
        "0780511230",  # ten digits
        "SSN 1078-05-1123",  # embedded in a longer number
        "130-692-544",  # Canadian SIN grouping
        "444-5-22222",
    ],
)
def test_ssn_negative(text: str) -> None:
    assert "SSN" not in types(text)


# ------------------------------------------------------------------ PHONE
@pytest.mark.parametrize(
    "phone",
    [
        "(415) 555-0132",
        "(415)555-0132",
        "415-555-0132",
        "415.555.0132",
        "415 555 0132",
        "+1 415 555 0132",
        "+1-415-555-0132",
        "+1.415.555.0132",
        "1-800-555-0199",
        "1 (312) 515-2239",
        "1800 555-5555",
        "415/666-7777",
        "4156667777",
        "425 8829090",
        "415-555-0132 ext. 12",
        "(523)222-8888x623",
    ],
)
def test_phone_positive(phone: str) -> None:
    assert_only(f"call {phone} now", "PHONE", phone)


def test_phone_next_to_cjk_and_punctuation() -> None:
    assert found("我的电话号码是415-666-7777") == [("PHONE", "415-666-7777")]
    assert found("Tel:415-666-7777.") == [("PHONE", "415-666-7777")]
    assert found("Call 650-253-4561 -- 455-234-3451") == [
        ("PHONE", "650-253-4561"),
        ("PHONE", "455-234-3451"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "401-023-2137",  # exchange starts with 0
        "415-155-0132",  # exchange starts with 1
        "(123) 456-7890",  # area starts with 1
        "(023) 456-7890",  # area starts with 0
        "567-8900",  # no area code
        "23456789",
        "234567890112",
        "Today is 2021-05-21",
        "03/27/2011",
        "2012-01-02 08:00",
        "abc415-666-7777def",
        "see issue #event-6715453066",  # identifier in a URL fragment
        "sys.maxsize == 2147483647",
        "ids: 2643833823,1695183700",
    ],
)
def test_phone_negative(text: str) -> None:
    assert "PHONE" not in types(text)


# ------------------------------------------------------------------ IP
@pytest.mark.parametrize(
    ("text", "ip"),
    [
        ("host 192.168.1.1 up", "192.168.1.1"),
        ("(10.0.0.1)", "10.0.0.1"),
        ("IP: 8.8.8.8.", "8.8.8.8"),
        ("at 133.133.133.133:8080", "133.133.133.133"),
        ("net 10.0.0.0/8 here", "10.0.0.0/8"),
        ("bad prefix 10.0.0.0/123", "10.0.0.0"),
        ("from 255.255.255.255", "255.255.255.255"),
        ("IP地址192.168.1.100\uff0c", "192.168.1.100"),
        ("v6 2001:db8::1 ok", "2001:db8::1"),
        ("loopback ::1", "::1"),
        ("link fe80::1%eth0 up", "fe80::1%eth0"),
        ("[2001:db8::1]:8080", "2001:db8::1"),
        ("full 2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
        ("mapped ::ffff:192.0.2.1 here", "::ffff:192.0.2.1"),
        ("nat64 64:ff9b::198.51.100.1", "64:ff9b::198.51.100.1"),
        ("expanded 0:0:0:0:0:FFFF:129.144.52.38", "0:0:0:0:0:FFFF:129.144.52.38"),
        ("prefix 2001:db8::/32.", "2001:db8::/32"),
        ("mcast ff02::1", "ff02::1"),
    ],
)
def test_ip_positive(text: str, ip: str) -> None:
    assert found(text) == [("IP_ADDRESS", ip)]


@pytest.mark.parametrize(
    "text",
    [
        "256.1.1.1",
        "192.168.1.256",
        "192.168.1",
        "1.2.3.04",  # leading zero
        "version string 1.2.3.4.5",
        "1.2.3.4.5.6.7.8",
        "Version 1.2.3.4",
        "Upgrade V8 to 4.1.0.27",
        "requests-2.31.0.1.tar.gz",
        "MAC aa:bb:cc:dd:ee:ff",
        "MAC 00-1A-2B-3C-4D-5E",
        "Cisco 0012.3456.789A",
        "Time 12:34:56",
        "ratio 1:2:3:4",
        "std::cout << x",
        "MyClass::toString",
        ":::",
        "2001::db8::1",
        "12345:db8::1",
        "684D:1111:222:3333:4444:5555:77",  # seven groups
        "gggg:hhhh::1234",
        "data[3::4] = data[1::4]",  # Python slices
        "unspecified ::",
    ],
)
def test_ip_negative(text: str) -> None:
    assert "IP_ADDRESS" not in types(text)


def test_ipv6_embedded_ipv4_is_one_span() -> None:
    text = "tunnel 2001:db8:85a3::8a2e:192.168.0.1 ok"
    assert found(text) == [("IP_ADDRESS", "2001:db8:85a3::8a2e:192.168.0.1")]


# ------------------------------------------------------------------ CREDIT_CARD
@pytest.mark.parametrize(
    "card",
    [
        "4111111111111111",
        "4111-1111-1111-1111",
        "4111 1111 1111 1111",
        "5555555555554444",
        "2223000048400011",  # Mastercard 2-series
        "378282246310005",  # Amex
        "3782 822463 10005",  # Amex 4-6-5
        "30569309025904",  # Diners 14
        "6011111111111117",  # Discover
        "3530111333300000",  # JCB
        "6212345678901232",  # UnionPay
        "4716989580001715211",  # 19-digit Visa
    ],
)
def test_card_positive(card: str) -> None:
    assert_only(f"card {card}.", "CREDIT_CARD", card)


def test_three_cards_with_mixed_separators() -> None:
    text = "4012888888881881 4012-8888-8888-1881 4012 8888 8888 1881"
    assert [k for k, _ in found(text)] == ["CREDIT_CARD"] * 3


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111112",  # Luhn invalid
        "4012-8888-8888-1882",
        "5555555555554446",
        "7111111111111114",  # no network with 7
        "0000000000000000",
        "411111111111",  # 12 digits
        "41111111111111111111",  # 20 digits
        "prefix4111111111111111",
        "4111111111111111suffix",
        "AL47 2121 1009 0000 0002 3569 8741",  # IBAN groups
        "AT61 1904 3002 3457 3201",
        "see chromestatus.com/feature/4111111111111111",  # URL path segment
        "2221 4111 1111 1111 1111 1111",  # longer grouped number
    ],
)
def test_card_negative(text: str) -> None:
    assert "CREDIT_CARD" not in types(text)


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for d in string.digits:
        if luhn_ok(body + d):
            return body + d
    raise AssertionError


@pytest.mark.parametrize(
    ("prefix", "length"),
    [
        ("4", 16),
        ("4", 13),
        ("51", 16),
        ("2720", 16),
        ("34", 15),
        ("37", 15),
        ("36", 14),
        ("6011", 16),
        ("65", 16),
        ("3528", 16),
        ("62", 17),
        ("50", 19),
    ],
)
def test_card_luhn_property(prefix: str, length: int) -> None:
    rng = random.Random(hash((prefix, length)) & 0xFFFF)
    for _ in range(25):
        num = _luhn_complete(prefix, length, rng)
        assert card_ok(num)
        assert types(f"pay with {num} please") == {"CREDIT_CARD"}
        broken = num[:-1] + str((int(num[-1]) + 1) % 10)
        assert "CREDIT_CARD" not in types(f"pay with {broken} please")


# ------------------------------------------------------------------ API keys
def _keys() -> dict[str, str]:
    return {
        "openai-legacy": "sk-" + rand(20) + "T3BlbkFJ" + rand(20),
        "openai-project": "sk-proj-" + rand(74, B62 + "_-") + "T3BlbkFJ" + rand(74, B62 + "_-"),
        "openai-svcacct": "sk-svcacct-" + rand(58) + "T3BlbkFJ" + rand(58),
        "anthropic": "sk-ant-api03-" + rand(93, B62 + "_-") + "AA",
        "anthropic-admin": "sk-ant-admin01-" + rand(93) + "AA",
        "github-pat": "ghp_" + rand(36),
        "github-oauth": "gho_" + rand(36),
        "github-app": "ghs_" + rand(36),
        "github-user": "ghu_" + rand(36),
        "github-refresh": "ghr_" + rand(76),
        "github-fine": "github_pat_" + rand(22) + "_" + rand(59),
        "slack-bot": "xoxb-"
        + rand(12, string.digits)
        + "-"
        + rand(13, string.digits)
        + "-"
        + rand(24),
        "slack-user": "xoxp-"
        + "-".join(rand(12, string.digits) for _ in range(3))
        + "-"
        + rand(32, "0123456789abcdef"),
        "slack-legacy": "xoxs-"
        + rand(10, string.digits)
        + "-"
        + rand(10, string.digits)
        + "-"
        + rand(10, "0123456789abcdef"),
        "slack-config": "xoxe.xoxp-1-" + rand(140),
        "slack-refresh": "xoxe-1-" + rand(140),
        "stripe-live": "sk_live_" + rand(24),
        "stripe-restricted": "rk_live_" + rand(99),
        "stripe-test": "sk_test_" + rand(99),
        "google": "AIza" + rand(35, B62 + "_-"),
        "slack-webhook": "https://hooks.slack.com/services/T"
        + rand(8, string.ascii_uppercase + string.digits)
        + "/B"
        + rand(8, string.ascii_uppercase + string.digits)
        + "/"
        + rand(24),
    }


@pytest.mark.parametrize("name", sorted(_keys()))
def test_api_key_positive(name: str) -> None:
    key = _keys()[name]
    for text in (key, f'API_KEY = "{key}"', f"Authorization: Bearer {key}\n", f"key={key}&x=1"):
        assert found(text) == [("API_KEY", key)], (name, found(text))
        assert detect(text)[0].is_secret


@pytest.mark.parametrize(
    "text",
    [
        "ghp_" + "x" * 36,  # placeholder
        "github_pat_" + "x" * 22 + "_" + "x" * 59,
        "xoxb-" + "x" * 9 + "-" + "x" * 10 + "-" + "x" * 12,
        "xoxb-12345-abcd234",
        "xoxp-1234567890",
        "xoxe.xoxp-1-" + "SlackAppConfigurationAccessTokenHere",
        "ghp_abc123def456.",  # too short
        "sk-proj-abc123.",
        "sk_live_",
        "pk_live_" + rand(24),  # publishable key is public by design
        "AIza" + "a" * 35,
        "AIZA" + rand(35),  # wrong case
        "AIza" + rand(34),  # one short
        "AIza" + rand(42),  # too long
        "foo_" + rand(36),
        "X" + "ghp_" + rand(36),  # glued to a word
        "task-management-system-for-small-businesses-and-teams",
        "https://github.com/xoxa-nyc/xoxa-nyc.github.io/blob/master/README.md",
    ],
)
def test_api_key_negative(text: str) -> None:
    assert "API_KEY" not in types(text)


# ------------------------------------------------------------------ AWS
def _aws_id(prefix: str = "AKIA") -> str:
    return prefix + rand(16, string.ascii_uppercase + "234567")


def _aws_secret() -> str:
    while True:
        s = rand(40, B62 + "/+")
        if any(c.isdigit() for c in s):
            return s


@pytest.mark.parametrize("prefix", ["AKIA", "ASIA", "ABIA", "ACCA"])
def test_aws_access_key_id(prefix: str) -> None:
    kid = _aws_id(prefix)
    assert found(f"id: {kid}\n") == [("AWS_ACCESS_KEY", kid)]
    assert found(f'"{kid}"') == [("AWS_ACCESS_KEY", kid)]


@pytest.mark.parametrize(
    "text",
    [
        "akia" + rand(16, string.ascii_lowercase),
        "AKIAZZZ",
        "AKIA" + "X" * 16,  # placeholder
        "AKIA" + "IOSFODNN7" + "EXAMPLE",  # AWS documentation example id
        "TODAYINASIAASACKOFRICEFELLOVER",
        "AKIA" + rand(16, string.ascii_uppercase) + "Q",  # 21 characters
    ],
)
def test_aws_access_key_negative(text: str) -> None:
    assert not types(text) & {"AWS_ACCESS_KEY", "AWS_SECRET_KEY"}


@pytest.mark.parametrize(
    "template",
    [
        'aws_secret_access_key = "{s}"',
        "AWS_SECRET_ACCESS_KEY={s}",
        "export AWS_SECRET_ACCESS_KEY='{s}'",
        "secret_key: {s}",
        "aws credentials {{\n\tsecret: {s}\n}}",
        '"SecretAccessKey": "{s}",',
    ],
)
def test_aws_secret_with_context(template: str) -> None:
    s = _aws_secret()
    assert ("AWS_SECRET_KEY", s) in found(template.format(s=s))


def test_aws_secret_next_to_key_id() -> None:
    kid, s = _aws_id(), _aws_secret()
    text = f"{kid}\n{s}\n"
    assert found(text) == [("AWS_ACCESS_KEY", kid), ("AWS_SECRET_KEY", s)]


def test_aws_secret_needs_context_and_exact_length() -> None:
    s = _aws_secret()
    assert "AWS_SECRET_KEY" not in types(f"some_function('{s}')")  # no context
    assert "AWS_SECRET_KEY" not in types(f'aws_secret_access_key = "{s}a"')  # 41
    assert "AWS_SECRET_KEY" not in types(f'aws_secret_access_key = "{s[:-1]}"')  # 39
    sha1 = "".join(RNG.choice("0123456789abcdef") for _ in range(40))
    assert "AWS_SECRET_KEY" not in types(f"commit {sha1} fixes the build")
    # slice of a longer base64url token (a RECORD line's sha256 digest)
    assert "AWS_SECRET_KEY" not in types(f"aws/_client.py,sha256=s8-{s},1939")


# ------------------------------------------------------------------ PRIVATE KEY
BEGIN = "-----BEGIN"
END = "-----END"


def _pem(label: str, lines: int = 4) -> str:
    body = "\n".join(rand(64, B62 + "+/") for _ in range(lines))
    return f"{BEGIN} {label}-----\n{body}\n{END} {label}-----"


@pytest.mark.parametrize(
    "label",
    [
        "RSA PRIVATE" + " KEY",
        "PRIVATE" + " KEY",
        "EC PRIVATE" + " KEY",
        "OPENSSH PRIVATE" + " KEY",
        "ENCRYPTED PRIVATE" + " KEY",
        "PGP PRIVATE" + " KEY BLOCK",
    ],
)
def test_private_key_block(label: str) -> None:
    pem = _pem(label)
    text = f"here is my key:\n{pem}\nthanks"
    assert found(text) == [("PRIVATE_KEY", pem)]


def test_private_key_without_end_marker_covers_body() -> None:
    body = rand(64, B62 + "+/") + "\n" + rand(40, B62 + "+/")
    text = f"{BEGIN} RSA PRIVATE" + f" KEY-----\n{body}\n\nnext paragraph"
    ((kind, value),) = found(text)
    assert kind == "PRIVATE_KEY" and value.endswith(body[-40:]) and "next" not in value


def test_private_key_base64_wrapped() -> None:
    inner = _pem("RSA PRIVATE" + " KEY")
    wrapped = base64.b64encode(inner.encode()).decode()
    assert found(f"PRIVATE_KEY_B64={wrapped}\n") == [("PRIVATE_KEY", wrapped)]


@pytest.mark.parametrize(
    "text",
    [
        _pem("PUBLIC" + " KEY"),
        _pem("CERTIFICATE"),
        f"{BEGIN} OPENSSH PRIVATE" + f" KEY-----{END} OPENSSH PRIVATE" + " KEY-----",
        f"{BEGIN} EC PRIVATE" + f" KEY-----\n<key bytes>\n{END} EC PRIVATE" + " KEY-----",
        "IceSSL.KeyFile=s_rsa1024_priv.pem",
    ],
)
def test_private_key_negative(text: str) -> None:
    assert "PRIVATE_KEY" not in types(text)


# ------------------------------------------------------------------ JWT
def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def _jwt(header: dict | None = None, sig: str | None = None) -> str:
    header = header if header is not None else {"alg": "HS256", "typ": "JWT"}
    claims = {"sub": rand(8), "iat": RNG.randint(1_500_000_000, 1_800_000_000)}
    sig = rand(43, B62 + "_-") if sig is None else sig
    return f"{_b64(header)}.{_b64(claims)}.{sig}"


def test_jwt_positive() -> None:
    tok = _jwt()
    for text in (tok, f"Authorization: Bearer {tok}", f'{{"id_token": "{tok}"}}', f"?t={tok}&a=1"):
        assert found(text) == [("JWT", tok)]
    none_alg = _jwt({"alg": "none"}, sig="")
    assert found(f'token = "{none_alg}";') == [("JWT", none_alg)]
    assert found(f"see {tok}.") == [("JWT", tok)]


def test_jwt_negative() -> None:
    tok = _jwt()
    head, claims, _sig = tok.split(".")
    assert "JWT" not in types(head)  # header only
    assert "JWT" not in types(f"{head}.{claims}")  # two segments
    assert "JWT" not in types(_jwt({"typ": "JWT"}))  # no alg
    assert "JWT" not in types("eyJAAAA.eyJBBB")
    assert "JWT" not in types("eyJBB.eyJCC.eyJDDDD")
    assert "JWT" not in types('{"alg":"HS256"}.{"name":"x"}.abc')
    assert "JWT" not in types("x" + tok)  # glued to a word


# ------------------------------------------------------------------ general
def test_findings_sorted_non_overlapping_and_flags() -> None:
    key = "gho_" + rand(36)
    text = (
        f"mail a@example.com, call (415) 555-0132, card 4111 1111 1111 1111, "
        f"ip 10.1.2.3, repo https://bob:{key}@github.com/x.git and b@example.org"
    )
    res = detect(text)
    assert [f.start for f in res] == sorted(f.start for f in res)
    assert all(a.end <= b.start for a, b in itertools.pairwise(res))
    assert [f.type for f in res] == [
        "EMAIL",
        "PHONE",
        "CREDIT_CARD",
        "IP_ADDRESS",
        "API_KEY",
        "EMAIL",
    ]
    # the token wins over the e-mail-shaped "token@github.com"
    assert text[res[4].start : res[4].end] == key
    pii, secrets = summarize(res)
    assert pii == {"EMAIL": 2, "PHONE": 1, "CREDIT_CARD": 1, "IP_ADDRESS": 1}
    assert secrets == {"API_KEY": 1}
    assert all(isinstance(f, Finding) for f in res)
    assert [f.is_secret for f in res] == [False, False, False, False, True, False]


def test_offsets_with_non_ascii_text() -> None:
    text = "héllo 🙂 naïve — 联系 jane@example.com 或 (415) 555-0132 🙂"
    res = found(text)
    assert res == [("EMAIL", "jane@example.com"), ("PHONE", "(415) 555-0132")]


def test_empty_and_plain_text() -> None:
    assert detect("") == []
    assert detect("Just a simple prompt about the weather in 2024, version 3.11 at 10:30.") == []


CORPUS = [
    "Contact me at jane.doe@example.com or (415) 555-0132. SSN 078-05-1123.",
    "card 4111-1111-1111-1111 and ip 192.168.0.1 and fe80::1%eth0 and ::ffff:10.0.0.1",
    "aws_secret_access_key = " + _aws_secret(),
    "版本 1.2.3.4.5 MAC aa:bb:cc:dd:ee:ff time 12:30:45 data[1::4]",
]


@pytest.mark.skipif(engine_mod.engine_name() != "hyperscan", reason="hyperscan not installed")
def test_python_fallback_engine_agrees_with_hyperscan() -> None:
    fallback = engine_mod._PythonPrefilter()
    texts = [*CORPUS, *(_keys().values()), _jwt(), _pem("RSA PRIVATE" + " KEY")]
    texts.append(" ".join(texts))
    for text in texts:
        assert engine_mod._detect_with(fallback, text) == detect(text)


def test_card_right_after_a_phone_number() -> None:
    text = "(415) 555-0132 4111 1111 1111 1111"
    assert found(text) == [("PHONE", "(415) 555-0132"), ("CREDIT_CARD", "4111 1111 1111 1111")]


def _mixed_corpus(rng: random.Random, size: int) -> str:
    """Prose, numbers, logs, code and every kind of value, for engine agreement."""
    words = [
        "the",
        "data",
        "model",
        "please",
        "call",
        "send",
        "token",
        "user",
        "at",
        "on",
        "version",
        "time",
        "ip",
    ]
    makers = [
        lambda: f"{rand(6, string.ascii_lowercase, rng)}@example.{rng.choice(['com', 'org'])}",
        lambda: f"({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
        lambda: f"+1 {rng.randint(200, 999)} {rng.randint(200, 999)} {rng.randint(0, 9999):04d}",
        lambda: f"{rng.randint(1, 899):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}",
        lambda: ".".join(str(rng.randint(0, 255)) for _ in range(4)),
        lambda: f"2001:db8::{rng.randint(1, 0xFFFF):x}",
        lambda: _luhn_complete(rng.choice(["4", "51", "37", "6011"]), 16, rng),
        lambda: "".join(rng.choice(string.digits + " -.:/") for _ in range(rng.randint(3, 30))),
        lambda: "sk-" + rand(48, B62, rng),
        lambda: _aws_id() + "\n" + _aws_secret(),
        lambda: "secret: " + _aws_secret(),
        lambda: _jwt(),
        lambda: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
        lambda: (
            f"v{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}"
        ),
    ]
    parts: list[str] = []
    n = 0
    while n < size:
        piece = rng.choice(makers)() if rng.random() < 0.3 else rng.choice(words)
        parts.append(piece)
        parts.append(rng.choice([" ", " ", ", ", "\n", "; ", "(", ")"]))
        n += len(piece) + 1
    return "".join(parts)


@pytest.mark.skipif(engine_mod.engine_name() != "hyperscan", reason="hyperscan not installed")
@pytest.mark.parametrize("seed", range(6))
def test_engines_agree_on_generated_text(seed: int) -> None:
    text = _mixed_corpus(random.Random(seed), 20_000)
    fallback = engine_mod._PythonPrefilter()
    assert engine_mod._detect_with(fallback, text) == detect(text)
    for i in range(0, len(text), 1500):  # and on request-sized pieces
        piece = text[i : i + 2048]
        assert engine_mod._detect_with(fallback, piece) == detect(piece)


def test_concurrent_calls_from_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [_mixed_corpus(random.Random(100 + i), 4000) for i in range(16)]
    expected = [detect(t) for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            assert list(pool.map(detect, texts)) == expected
