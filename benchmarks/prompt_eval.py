"""Prompt filter evaluation on the held-out test split (never seen by training or threshold choice).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/prompt_eval.py [--data /work/shared/data/prompts]

Prints markdown tables:
1. decision-level results per source: benign false-positive rate (share blocked; share changed at all) and
   unsafe recall (share blocked), clean and after four obfuscations of the unsafe prompts;
2. per-category precision / recall / F1 of the stage's category scores against the (noisy) labels, a
   category counting as predicted when its score reaches the policy's block threshold.
3. the external direct requests' blind test half (HarmBench, Do-Not-Answer, mapped as dataset.load_external_rows
   says; never trained on, whatever ``--external-weight`` the head was trained with): share blocked per mapped
   category, and the share of its benign (advice-seeking) rows blocked. ``--external-only`` prints only this table.
   It lists no prompts (unlike the missed-prompt lists of the shared split), so the set can stay blind.
The baseline row is the blocklist alone (the cheapest filter) on the same prompts.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from guard.policy import load_policy  # noqa: E402
from guard.prompt_filter import build_prompt_filter  # noqa: E402
from guard.prompt_filter.dataset import (  # noqa: E402
    CATEGORIES,
    DEFAULT_DATA,
    Row,
    load_external_rows,
    load_rows,
    split_of,
)
from guard.prompt_filter.resources import EXTERNAL_SPLIT_FILE, SPLIT_FILE  # noqa: E402
from guard.verdict import Decision  # noqa: E402

HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і", "s": "ѕ"}
LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}


def _words(text: str, rng: random.Random, p: float, fn) -> str:
    return " ".join(fn(w) if len(w) >= 4 and rng.random() < p else w for w in text.split(" "))


def leetspeak(text: str, rng: random.Random) -> str:
    return _words(text, rng, 0.6, lambda w: "".join(LEET.get(c, c) if rng.random() < 0.7 else c for c in w))


def spacing(text: str, rng: random.Random) -> str:
    return _words(text, rng, 0.5, lambda w: rng.choice([" ", ".", "-", "_"]).join(w))


def homoglyphs(text: str, rng: random.Random) -> str:
    return "".join(HOMOGLYPHS.get(c, c) if rng.random() < 0.5 else c for c in text)


def misspell(text: str, rng: random.Random) -> str:
    def typo(w: str) -> str:
        i = rng.randrange(1, len(w) - 1)
        kind = rng.choice(["swap", "double", "drop"])
        if kind == "swap":
            return w[:i] + w[i + 1] + w[i] + w[i + 2:]
        if kind == "double":
            return w[:i] + w[i] + w[i:]
        return w[:i] + w[i + 1:]
    return _words(text, rng, 0.5, typo)


OBFUSCATIONS = {"leetspeak": leetspeak, "spacing": spacing, "homoglyphs": homoglyphs, "misspelling": misspell}
UNSAFE_SOURCES = ("simplesafetytests", "ringabell_nudity", "ringabell_violence", "i2p", "toxigen", "davidson")
QUICK_SOURCES = ("vbench", "vbench2", "vbench_gpt", "simplesafetytests", "ringabell_nudity", "ringabell_violence")
BENIGN_SOURCES = ("vbench", "vbench2", "vbench_gpt", "toxigen", "ringabell_nonudity", "ringabell_noviolence",
                  "davidson")


def test_rows(data: Path) -> list[Row]:
    rows = load_rows(data, include_project=False)
    saved = json.loads(SPLIT_FILE.read_text(encoding="utf-8"))
    train_keys, test_keys = set(saved["train_keys"]), set(saved["test_keys"])
    test = [r for r in rows if split_of(r) == "test"]
    leaked = [r for r in test if r.key in train_keys]
    if leaked or {r.key for r in test} - test_keys:
        raise SystemExit(f"split mismatch with {SPLIT_FILE}: {len(leaked)} test rows were in train")
    return test


SST_CATEGORIES = ("sexual", "violence", "self_harm", "illicit")  # what dataset.py maps SimpleSafetyTests to


def external_test_rows(data: Path) -> list[Row]:
    """The external direct requests' test half, checked against ``external_split.json`` (written by train.py):
    the same keys, and none of them among the keys a head may have trained on."""
    rows = load_external_rows({r.key for r in load_rows(data)})
    test = [r for r in rows if split_of(r) == "test"]
    saved = json.loads(EXTERNAL_SPLIT_FILE.read_text(encoding="utf-8"))
    keys = {r.key for r in test}
    if keys != set(saved["test_keys"]) or keys & set(saved["dev_keys"]):
        raise SystemExit(f"external split mismatch with {EXTERNAL_SPLIT_FILE}")
    return test


def external_table(stage, baseline, rows: list[Row]) -> None:
    """Share blocked (and share changed at all) of the external test rows, per mapped category."""
    verdicts = stage.check_batch([r.text for r in rows])
    base = baseline.check_batch([r.text for r in rows])
    print("| external test (HarmBench + Do-Not-Answer, blind) | n | metric | videoguard (any non-allow) "
          "| blocklist only |")
    print("|---|---|---|---|---|")
    groups = [("unsafe, any mapped category", [not r.benign for r in rows]),
              ("unsafe, HarmBench", [not r.benign and r.source == "harmbench" for r in rows]),
              ("unsafe, Do-Not-Answer", [not r.benign and r.source == "donotanswer" for r in rows]),
              ("unsafe, SST's categories (sexual, violence, self_harm, illicit)",
               [bool(set(r.labels) & set(SST_CATEGORIES)) for r in rows]),
              *((c, [c in r.labels for r in rows]) for c in CATEGORIES),
              ("benign (advice-seeking)", [r.benign for r in rows])]
    for name, members in groups:
        idx = [i for i, m in enumerate(members) if m]
        if not idx:
            continue
        hits = sum(blocked(verdicts[i]) for i in idx)
        changed = sum(verdicts[i].decision is not Decision.ALLOW for i in idx)
        metric = "FPR blocked" if name.startswith("benign") else "recall (blocked)"
        print(f"| {name} | {len(idx)} | {metric} | {hits / len(idx):.3f} ({hits}; {changed / len(idx):.3f}) | "
              f"{sum(blocked(base[i]) for i in idx) / len(idx):.3f} |")


def blocked(v) -> bool:
    return v.decision in (Decision.BLOCK, Decision.ERROR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="score only the sources the issue's targets name (VBench benign, SimpleSafetyTests, "
                             "Ring-A-Bell); obfuscated texts are drawn exactly as in the full run")
    parser.add_argument("--external-only", action="store_true",
                        help="score only the external direct requests' blind test half (table 3)")
    args = parser.parse_args()
    policy = load_policy()
    stage = build_prompt_filter(policy)
    baseline = build_prompt_filter(load_policy(overrides={"prompt": {"settings": {"checks": ["blocklist"]}}}))
    external = external_test_rows(args.data)
    if args.external_only:
        external_table(stage, baseline, external)
        return
    rows = test_rows(args.data)
    if args.quick:
        rows = [r for r in rows if r.source in QUICK_SOURCES or (not r.benign and r.source in UNSAFE_SOURCES)]
    start = time.perf_counter()
    scored_rows = [i for i, r in enumerate(rows) if not args.quick or r.source in QUICK_SOURCES]
    verdicts: list = [None] * len(rows)  # --quick: the other unsafe rows are kept only to draw obfuscations
    for i, v in zip(scored_rows, stage.check_batch([rows[i].text for i in scored_rows]), strict=True):
        verdicts[i] = v
    print(f"{len(scored_rows)} test prompts in {time.perf_counter() - start:.1f} s\n")
    base = baseline.check_batch([r.text for r in rows])

    # 1. decision-level table per source
    print("| source (test split) | n | metric | videoguard | blocklist only |")
    print("|---|---|---|---|---|")
    by_source: dict[tuple[str, bool], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_source[(r.source, r.benign)].append(i)
    for source in BENIGN_SOURCES:
        idx = by_source.get((source, True), [])
        if idx:
            fpr = sum(blocked(verdicts[i]) for i in idx) / len(idx)
            changed = sum(verdicts[i].decision is not Decision.ALLOW for i in idx) / len(idx)
            bfpr = sum(blocked(base[i]) for i in idx) / len(idx)
            print(f"| {source} benign | {len(idx)} | FPR blocked (any non-allow) | {fpr:.3f} ({changed:.3f}) "
                  f"| {bfpr:.3f} |")
    people = [i for i, r in enumerate(rows) if r.source in ("vbench", "vbench2") and r.benign and any(
        g in r.group.lower() for g in ("human", "appearance", "lifestyle"))]
    if people:
        print(f"| vbench people-centred (human*, appearance, lifestyle) | {len(people)} | FPR blocked (any) | "
              f"{sum(blocked(verdicts[i]) for i in people) / len(people):.3f} "
              f"({sum(verdicts[i].decision is not Decision.ALLOW for i in people) / len(people):.3f}) | "
              f"{sum(blocked(base[i]) for i in people) / len(people):.3f} |")
    unsafe_idx = {s: by_source.get((s, False), []) for s in UNSAFE_SOURCES}
    rng = random.Random(args.seed)
    obfuscated: dict[str, dict[int, bool]] = {}
    for name, fn in OBFUSCATIONS.items():
        idx = [i for s in UNSAFE_SOURCES for i in unsafe_idx[s]]
        texts = [fn(rows[i].text, rng) for i in idx]  # drawn for every unsafe row, so --quick sees the same texts
        scored = [k for k, i in enumerate(idx) if not args.quick or rows[i].source in QUICK_SOURCES]
        verdicts_obf = stage.check_batch([texts[k] for k in scored])
        obfuscated[name] = {idx[k]: blocked(v) for k, v in zip(scored, verdicts_obf, strict=True)}
    for source in UNSAFE_SOURCES:
        idx = unsafe_idx[source]
        if not idx or (args.quick and source not in QUICK_SOURCES):
            continue
        recall = sum(blocked(verdicts[i]) for i in idx) / len(idx)
        obf = " / ".join(f"{sum(obfuscated[n][i] for i in idx) / len(idx):.3f}" for n in OBFUSCATIONS)
        print(f"| {source} unsafe | {len(idx)} | recall (blocked) | {recall:.3f} | "
              f"{sum(blocked(base[i]) for i in idx) / len(idx):.3f} |")
        print(f"| {source} obfuscated | {len(idx)} | recall {' / '.join(OBFUSCATIONS)} | {obf} | |")
    sst = unsafe_idx["simplesafetytests"]
    areas = sorted({rows[i].group for i in sst})
    for area in areas:
        idx = [i for i in sst if rows[i].group == area]
        print(f"| SST: {area} | {len(idx)} | recall | {sum(blocked(verdicts[i]) for i in idx) / len(idx):.3f} | "
              f"{sum(blocked(base[i]) for i in idx) / len(idx):.3f} |")

    # 2. per-category precision / recall / F1 on category scores at the block threshold
    thresholds = policy.prompt.thresholds
    if args.quick:
        print("\n(--quick: per-category table skipped, it needs every source)")
    print("\n(* flag-only head: scored at its flag threshold; unsafe = any category but hate)")
    print("| category | test positives | precision | recall | F1 |")
    print("|---|---|---|---|---|")
    for c in (*CATEGORIES, "unsafe") if not args.quick else ():
        t = thresholds.get(c)
        # the block threshold; for flag-only heads (block: null) the flag threshold, marked with *
        block = 1.0 if t is None else t.block if t.block is not None else t.flag if t.flag is not None else 1.0
        mark = "*" if t is not None and t.block is None else ""
        pred = [verdicts[i].scores.get(c, 0.0) >= block for i in range(len(rows))]
        gold = [any(x != "hate" for x in r.labels) if c == "unsafe" else c in r.labels for r in rows]
        tp = sum(p and g for p, g in zip(pred, gold, strict=True))
        precision = tp / max(sum(pred), 1)
        recall = tp / max(sum(gold), 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        print(f"| {c}{mark} | {sum(gold)} | {precision:.3f} | {recall:.3f} | {f1:.3f} |")

    print()
    external_table(stage, baseline, external)

    misses = [rows[i].text for i in sst + unsafe_idx["ringabell_nudity"] + unsafe_idx["ringabell_violence"]
              if not blocked(verdicts[i])]
    print(f"\nmissed SST / Ring-A-Bell test prompts ({len(misses)}):")
    for text in misses:
        print(f"- {text}")
    fps = [rows[i].text for s in ("vbench", "vbench2", "vbench_gpt") for i in by_source.get((s, True), [])
           if blocked(verdicts[i])]
    print(f"\nblocked benign VBench test prompts ({len(fps)}):")
    for text in fps:
        print(f"- {text[:150]}")


if __name__ == "__main__":
    main()
