"""``videoguard audit prompts``: what the bias gate saw across the ledger.

Reads ledger records (each holds the request's stage verdicts as ``Verdict.to_dict()`` JSON under
``verdicts``) and reports the share of prompts that depicted people, how many were diversified and
with which words, and how many stereotype prompts were stopped or flagged.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from guard.errors import InputError

BIAS_STAGE = "bias"


def _bias_verdict(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``bias`` verdict of one record: a top-level stage verdict, or a check inside a combined one."""
    verdicts = record.get("verdicts") or []
    if isinstance(verdicts, str):
        verdicts = json.loads(verdicts)
    for verdict in verdicts:
        if verdict.get("stage") == BIAS_STAGE:
            return verdict
    for verdict in verdicts:
        checks = (verdict.get("evidence") or {}).get("checks") or {}
        if BIAS_STAGE in checks:
            return checks[BIAS_STAGE]
    return None


def audit_prompts(ledger_rows: Iterable[Mapping[str, Any] | str]) -> dict[str, Any]:
    """Aggregate the bias verdicts of ``ledger_rows`` (dicts, or JSON strings) into a report dict."""
    total = audited = people = diversified = 0
    stereotype_decisions: Counter[str] = Counter()
    themes: Counter[str] = Counter()
    added: dict[str, Counter[str]] = {}
    attributes_stated: Counter[str] = Counter()
    for index, row in enumerate(ledger_rows):
        try:
            record = json.loads(row) if isinstance(row, str) else row
            verdict = _bias_verdict(record)
        except (json.JSONDecodeError, AttributeError, TypeError) as exc:
            raise InputError(f"ledger row {index} is not a record with a verdicts list: {exc}") from exc
        total += 1
        if verdict is None:
            continue
        audited += 1
        evidence = verdict.get("evidence") or {}
        people += bool(evidence.get("people"))
        attributes_stated.update(list(evidence.get("attributes") or {}))
        if evidence.get("diversified"):
            diversified += 1
            for attribute, word in evidence["diversified"].items():
                added.setdefault(attribute, Counter())[word] += 1
        stereotype = evidence.get("stereotype") or {}
        if stereotype.get("found"):
            stereotype_decisions[verdict.get("decision", "unknown")] += 1
            themes.update(stereotype.get("themes") or [])
    return {
        "records": total,
        "records_with_bias_verdict": audited,
        "people_prompts": people,
        "people_share": people / audited if audited else None,
        "attributes_stated": dict(attributes_stated),
        "diversified": diversified,
        "diversified_share_of_people": diversified / people if people else None,
        "diversified_distribution": {a: dict(c) for a, c in added.items()},
        "stereotype": {
            "total": sum(stereotype_decisions.values()),
            "stopped": stereotype_decisions.get("block", 0),
            "flagged": stereotype_decisions.get("flag", 0),
            "by_decision": dict(stereotype_decisions),
            "themes": dict(themes),
        },
        "not_measured": ([] if audited == total else
                         [f"{total - audited} record(s) carry no bias verdict (gate disabled or request "
                          "refused before it ran)"]),
    }
