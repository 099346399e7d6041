"""Quality benchmark for gateway.pii.detect on the shared labelled cases.

    uv run python bench/pii_eval.py [--details]

Reads ``pii_cases.jsonl`` and ``secret_cases.jsonl`` from ``../shared/eval``
(relative to the repository root) or from ``$CANDELA_EVAL_DIR``. Nothing is
copied into the project.

Scoring
-------
* Eval types map to detector types: IP -> IP_ADDRESS, AWS_KEY -> AWS_ACCESS_KEY
  or AWS_SECRET_KEY; the others are the same name.
* A positive case is *detected* when the detector returns at least ``count``
  findings of the mapped type(s) (at least one where ``count`` is null).
  Exact-count agreement is reported as well.
* A negative case is a *false positive* when the detector returns any finding
  of the mapped type(s); findings of other types do not count against it.
* The core (cases whose note has no leading ``[TAG]``) is pass/fail:
  recall >= 0.97 and FP rate <= 3 % per type.
* Tagged cases are reported per tag (a case with two tags is in both groups).
  Where a note carries ``spec_expect=positive|negative`` the case is scored
  against that; ``spec_expect=unclear`` cases are only reported as "flagged".
  For cases re-scored to a different expectation than the source's, presence
  (>= 1 finding) is used since the source's count follows its own definition.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.pii import detect, engine_name  # noqa: E402

TYPE_MAP = {
    "IP": {"IP_ADDRESS"},
    "AWS_KEY": {"AWS_ACCESS_KEY", "AWS_SECRET_KEY"},
}
TYPE_ORDER = [
    "EMAIL",
    "SSN",
    "PHONE",
    "IP",
    "CREDIT_CARD",
    "API_KEY",
    "AWS_KEY",
    "PRIVATE_KEY",
    "JWT",
]
TAG_RX = re.compile(r"^\[([^\]]*)\]")
RECALL_MIN = 0.97
FP_MAX = 0.03


def eval_dir() -> Path:
    env = os.environ.get("CANDELA_EVAL_DIR")
    return Path(env) if env else (ROOT / ".." / "shared" / "eval").resolve()


def parse_note(note: str) -> tuple[list[str], str | None]:
    tags: list[str] = []
    spec: str | None = None
    rest = note
    while True:
        m = TAG_RX.match(rest)
        if not m:
            break
        inner = m.group(1)
        for word in inner.split():
            if word.startswith("spec_expect="):
                spec = word.split("=", 1)[1]
            else:
                tags.append(word)
        rest = rest[m.end() :]
    return tags, spec


def load_cases(d: Path) -> list[dict]:
    cases = []
    for name in ("pii_cases.jsonl", "secret_cases.jsonl"):
        with open(d / name, encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                r = json.loads(line)
                if "text" not in r:
                    r["text"] = base64.b64decode(r["text_b64"]).decode("utf-8")
                r["file"] = name
                r["index"] = i
                r["tags"], r["spec"] = parse_note(r.get("note") or "")
                cases.append(r)
    return cases


def score(cases: list[dict]) -> None:
    for r in cases:
        wanted = TYPE_MAP.get(r["type"], {r["type"]})
        found = sum(1 for f in detect(r["text"]) if f.type in wanted)
        r["found"] = found
        expect = r["expect"]
        if r["spec"] in ("positive", "negative"):
            eff = r["spec"]
        elif r["spec"] == "unclear":
            eff = "unclear"
        else:
            eff = expect
        r["eff"] = eff
        if eff == "positive":
            rescored = r["spec"] is not None
            need = r["count"] if (r["count"] and not rescored) else 1
            r["ok"] = found >= need
            r["exact"] = r["count"] is None or rescored or found == r["count"]
        elif eff == "negative":
            r["ok"] = found == 0
            r["exact"] = r["ok"]
        else:
            r["ok"] = None
            r["exact"] = None


def pct(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "-"


def core_table(cases: list[dict]) -> bool:
    core = [r for r in cases if not r["tags"] and r["spec"] is None]
    print(f"#### Core (untagged) cases: {len(core)}\n")
    print(
        "| type | positives | detected | recall | exact count | negatives | FP | FP rate | pass |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    all_ok = True
    tot = defaultdict(int)
    for t in TYPE_ORDER:
        rows = [r for r in core if r["type"] == t]
        pos = [r for r in rows if r["eff"] == "positive"]
        neg = [r for r in rows if r["eff"] == "negative"]
        det = sum(r["ok"] for r in pos)
        exact = sum(bool(r["exact"]) for r in pos)
        fp = sum(not r["ok"] for r in neg)
        recall = det / len(pos) if pos else 1.0
        fpr = fp / len(neg) if neg else 0.0
        ok = recall >= RECALL_MIN and fpr <= FP_MAX
        all_ok &= ok
        for k, val in (
            ("pos", len(pos)),
            ("det", det),
            ("ex", exact),
            ("neg", len(neg)),
            ("fp", fp),
        ):
            tot[k] += val
        print(
            f"| {t} | {len(pos)} | {det} | {pct(det, len(pos))} | {exact}/{len(pos)} | "
            f"{len(neg)} | {fp} | {pct(fp, len(neg)) if neg else '-'} | {'PASS' if ok else 'FAIL'} |"
        )
    print(
        f"| **all** | {tot['pos']} | {tot['det']} | {pct(tot['det'], tot['pos'])} | "
        f"{tot['ex']}/{tot['pos']} | {tot['neg']} | {tot['fp']} | {pct(tot['fp'], tot['neg'])} | "
        f"{'PASS' if all_ok else 'FAIL'} |"
    )
    print()
    return all_ok


def tagged_tables(cases: list[dict]) -> None:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in cases:
        if not r["tags"] and r["spec"] is None:
            continue
        for tag in r["tags"] or ["(spec only)"]:
            groups[tag].append(r)
    order = ["DEF_DIFF", "AMBIGUOUS", "NON_US", "BOUNDARY", "PLACEHOLDER", "CROSS_TYPE"]
    for tag in order + sorted(set(groups) - set(order)):
        rows = groups.get(tag)
        if not rows:
            continue
        print(f"#### [{tag}] cases: {len(rows)}\n")
        print(
            "| type | expected positive | detected | expected negative | clean (no FP) "
            "| unclear | unclear flagged |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for t in TYPE_ORDER:
            tr = [r for r in rows if r["type"] == t]
            if not tr:
                continue
            pos = [r for r in tr if r["eff"] == "positive"]
            neg = [r for r in tr if r["eff"] == "negative"]
            unc = [r for r in tr if r["eff"] == "unclear"]
            print(
                f"| {t} | {len(pos)} | {sum(r['ok'] for r in pos)} | {len(neg)} | "
                f"{sum(r['ok'] for r in neg)} | {len(unc)} | {sum(r['found'] > 0 for r in unc)} |"
            )
        print()


def details(cases: list[dict]) -> None:
    print("#### Disagreements (core and re-scored tagged cases)\n")
    for r in cases:
        if r["ok"] is False:
            where = "core" if not r["tags"] and r["spec"] is None else ",".join(r["tags"])
            kind = "MISS" if r["eff"] == "positive" else "FP"
            shown = (
                repr(r["text"][:100])
                if r["file"].startswith("pii")
                else f"<secret case, {len(r['text'])} chars>"
            )
            print(
                f"- {kind} {r['type']} [{where}] {r['file']}#{r['index']} found={r['found']} "
                f"count={r['count']} {shown} -- {r['note'][:120]}"
            )
    print()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--details", action="store_true", help="list misses and false positives")
    args = ap.parse_args()
    d = eval_dir()
    cases = load_cases(d)
    score(cases)
    print(f"### PII / secret detector quality ({len(cases)} cases, prefilter: {engine_name()})\n")
    ok = core_table(cases)
    tagged_tables(cases)
    if args.details:
        details(cases)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
