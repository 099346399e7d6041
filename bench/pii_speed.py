"""Throughput benchmark for gateway.pii.detect.

    uv run python bench/pii_speed.py [--mb 1.0] [--repeat 7]

Generates deterministic chat-like English text (prose, numbers, dates,
versions, times, a little code and markdown) with a handful of PII items
(~1 per 100 KB), then measures on one core:

* MB/s of ``detect()`` over the whole ~1 MB text (best of ``--repeat``),
* microseconds per ``detect()`` call on 2 KB request-sized slices,
* microseconds per ``scan_body()`` on a 2 KB OpenAI chat request,

for the active prefilter (hyperscan) and for the pure-Python fallback.
The generated fake PII values are built at run time; none is a real value.
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.pii import detect, engine_name, scan_body  # noqa: E402
from gateway.pii import engine as detect_mod  # noqa: E402

_WORD_TEXT = (
    "the of and to a in is it you that he was for on are with as I his they be at one have "
    "this from or had by not word but what some we can out other were all there when up use "
    "your how said an each she which do their time if will way about many then them write "
    "would like so these her long make thing see him two has look more day could go come did "
    "number sound no most people my over know water than call first who may down side been "
    "now find any new work part take get place made live where after back little only round "
    "man year came show every good me give our under name very through just form sentence "
    "great think say help low line differ turn cause much mean before move right boy old too "
    "same tell does set three want air well also play small end put home read hand port large "
    "spell add even land here must big high such follow act why ask men change went light "
    "kind off need house picture try us again animal point mother world near build self earth "
    "function return value list error python model request response token prompt context "
    "please explain example summary question answer data table query server client config"
)
WORDS = _WORD_TEXT.split()

CODE = [
    "```python\ndef handler(event, context):\n    items = event.get('items', [])\n"
    "    return {'count': len(items), 'status': 200}\n```",
    "```bash\npip install requests==2.31.0 && python -m pytest -q tests/\n```",
    '```json\n{"model": "gpt-4o", "temperature": 0.2, "max_tokens": 512}\n```',
    "```sql\nSELECT id, name FROM users WHERE created_at > '2024-01-15' LIMIT 100;\n```",
]


def fake_pii(rng: random.Random) -> str:
    k = rng.randrange(5)
    if k == 0:
        return f"{''.join(rng.choices('abcdefghij', k=6))}@example.org"
    if k == 1:
        return f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
    if k == 2:
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if k == 3:
        return f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
    return "4111 1111 1111 1111"


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 22))]
    r = rng.random()
    if r < 0.15:
        words.insert(rng.randrange(len(words)), str(rng.randint(2, 2030)))
    elif r < 0.20:
        words.insert(
            rng.randrange(len(words)),
            f"v{rng.randint(1, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
        )
    elif r < 0.23:
        words.insert(
            rng.randrange(len(words)), f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
        )
    elif r < 0.25:
        words.insert(rng.randrange(len(words)), f"{rng.randint(1, 99)}%")
    s = " ".join(words)
    return s[0].upper() + s[1:] + rng.choice(".....?!:")


def chat_text(size: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    parts: list[str] = []
    n = 0
    next_pii = rng.randint(50_000, 150_000)
    while n < size:
        r = rng.random()
        if r < 0.04:
            chunk = "\n\n" + rng.choice(CODE) + "\n\n"
        elif r < 0.08:
            chunk = "\n- " + sentence(rng) + "\n- " + sentence(rng) + "\n"
        else:
            chunk = sentence(rng) + " "
        if n >= next_pii:
            chunk += f"You can reach me at {fake_pii(rng)}. "
            next_pii = n + rng.randint(50_000, 150_000)
        parts.append(chunk)
        n += len(chunk)
    return "".join(parts)[:size]


def best_of(fn, repeat: int) -> float:
    """Best CPU seconds (process time: one thread, so one core) over ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def per_call_us(fn, items: list, rounds: int = 5) -> tuple[float, float]:
    """(median, p99) CPU microseconds per call over ``items``, from the round
    with the lowest median."""
    best: list[float] | None = None
    for _ in range(rounds):
        times = []
        for it in items:
            t0 = time.process_time_ns()
            fn(it)
            times.append((time.process_time_ns() - t0) / 1000)
        if best is None or statistics.median(times) < statistics.median(best):
            best = times
    assert best is not None
    best.sort()
    return statistics.median(best), best[int(len(best) * 0.99) - 1]


def stress_inputs(size: int) -> list[tuple[str, str]]:
    """Dense / adversarial 1 MB inputs: worst cases for the windowed stage."""
    rng = random.Random(3)
    logs = "\n".join(
        f"2024-05-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
        f"{rng.randint(0, 59):02d} INFO 10.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
        f"{rng.randint(0, 255)} GET /api/v1/items/{rng.randint(1, 10**6)} 200 {rng.random():.3f}s"
        for _ in range(size // 80)
    )
    csv = "\n".join(
        ",".join(str(rng.randint(0, 10 ** rng.randint(1, 12))) for _ in range(10))
        for _ in range(size // 60)
    )
    return [
        ("server log lines (an IPv4 per line)", logs[:size]),
        ("CSV of integers", csv[:size]),
        ("random digits and spaces", "".join(rng.choice("0123456789 ") for _ in range(size))),
        ("random hex", "".join(rng.choice("0123456789abcdef") for _ in range(size))),
        ("base64 blob", base64.b64encode(rng.randbytes(size * 3 // 4)).decode()),
        ("':' repeated", ":" * size),
        ("'eyJ' repeated", "eyJ" * (size // 3)),
        ("'aws secret ' repeated", "aws secret " * (size // 11)),
        ("PEM header lines repeated", ("-----BEGIN RSA PRIVATE" + " KEY-----\n") * (size // 32)),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description="PII detector throughput")
    ap.add_argument("--mb", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--stress", action="store_true", help="also time dense / adversarial inputs")
    args = ap.parse_args()

    text = chat_text(int(args.mb * 1_000_000))
    size = len(text.encode("utf-8"))
    found = detect(text)
    slices = [text[i : i + 2048] for i in range(0, len(text) - 2048, 2048)]
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": slices[0][:400]},
            {"role": "user", "content": slices[1][:1648]},
        ],
    }

    engines = [(engine_name(), detect_mod._PREFILTER)]
    if engine_name() != "python-re":
        engines.append(("python-re", detect_mod._PythonPrefilter()))

    print(
        f"### PII detector speed ({size / 1e6:.2f} MB chat-like text, "
        f"{len(found)} findings, {len(slices)} x 2 KB slices, CPU time on one core)\n"
    )
    print(
        "| prefilter | MB/s (1 MB text) | 2 KB detect median µs | 2 KB detect p99 µs |"
        " 2 KB chat body scan_body median µs |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    saved = detect_mod._PREFILTER
    try:
        for name, pf in engines:
            detect_mod._PREFILTER = pf
            secs = best_of(lambda: detect(text), args.repeat)
            med, p99 = per_call_us(detect, slices)
            bmed, _ = per_call_us(lambda b: scan_body(b, "openai"), [body] * 200)
            print(f"| {name} | {size / secs / 1e6:.1f} | {med:.1f} | {p99:.1f} | {bmed:.1f} |")
    finally:
        detect_mod._PREFILTER = saved
    print()

    if args.stress:
        print(f"#### Dense and adversarial inputs ({engine_name()}, 1 MB each)\n")
        print("| input | MB/s | findings |")
        print("| --- | ---: | ---: |")
        for label, data in stress_inputs(1_000_000):
            secs = best_of(lambda d=data: detect(d), 3)
            print(f"| {label} | {len(data) / secs / 1e6:.1f} | {len(detect(data))} |")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
