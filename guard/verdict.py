"""The one verdict type every stage returns.

A verdict is never a bare bool: it carries the per-category scores, the human-readable reasons and
evidence (normalized text, offending timestamps, a rewritten prompt) so that the ledger, the C2PA
assertion and the API can all explain a decision without re-running anything.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any


class Decision(StrEnum):
    """Ordered from least to most severe; ``worst`` picks the most severe."""

    ALLOW = "allow"
    FLAG = "flag"
    REWRITE = "rewrite"
    BLOCK = "block"
    ERROR = "error"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def stops_release(self) -> bool:
        """Block and error both stop the release: the pipeline fails closed."""
        return self in (Decision.BLOCK, Decision.ERROR)

    @staticmethod
    def worst(decisions: list[Decision] | tuple[Decision, ...]) -> Decision:
        return max(decisions, key=lambda d: d.severity, default=Decision.ALLOW)


_SEVERITY = {Decision.ALLOW: 0, Decision.FLAG: 1, Decision.REWRITE: 2, Decision.BLOCK: 3, Decision.ERROR: 4}


@dataclass(frozen=True)
class Verdict:
    """What one stage (or one check inside a stage) decided, and why.

    ``scores`` are per-category probabilities in [0, 1]; ``evidence`` holds JSON-serializable
    details (for a prompt stage: ``normalized`` text and, for a rewrite, the ``prompt`` to use).
    """

    stage: str
    decision: Decision
    scores: Mapping[str, float] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    elapsed_ms: float = 0.0
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "decision", Decision(self.decision))
        object.__setattr__(self, "scores", MappingProxyType({k: float(v) for k, v in self.scores.items()}))
        object.__setattr__(self, "reasons", tuple(self.reasons))
        object.__setattr__(self, "evidence", MappingProxyType(dict(self.evidence)))

    @property
    def blocked(self) -> bool:
        return self.decision.stops_release

    def to_dict(self, *, hide_prompt_text: bool = False, keep: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The stable JSON schema (documented in docs/cli.md): stage, decision, categories, reasons, ...

        ``hide_prompt_text``: the evidence without ``PROMPT_TEXT_KEYS`` (``strip_prompt_text``, keeping the
        top-level ``keep``), as the ledger and the API show a verdict unless the policy allows prompt text.
        """
        evidence = _jsonable(dict(self.evidence))
        return {
            "stage": self.stage,
            "decision": self.decision.value,
            "categories": {k: round(v, 6) for k, v in self.scores.items()},
            "reasons": list(self.reasons),
            "elapsed_ms": round(self.elapsed_ms, 3),
            "evidence": strip_prompt_text(evidence, keep_top=keep) if hide_prompt_text else evidence,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            stage=data["stage"],
            decision=Decision(data["decision"]),
            scores=data.get("categories", {}),
            reasons=tuple(data.get("reasons", ())),
            elapsed_ms=float(data.get("elapsed_ms", 0.0)),
            evidence=data.get("evidence", {}),
        )

    @classmethod
    def error(cls, stage: str, exc: BaseException, elapsed_ms: float = 0.0) -> Verdict:
        """A stage that raised: an ``error`` verdict, which stops the release."""
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return cls(stage, Decision.ERROR, reasons=(f"{stage} failed: {type(exc).__name__}: {message}",),
                   elapsed_ms=elapsed_ms)

    def with_timing(self, elapsed_ms: float) -> Verdict:
        return Verdict(self.stage, self.decision, self.scores, self.reasons, elapsed_ms, self.evidence)


def combine(stage: str, parts: list[Verdict], elapsed_ms: float = 0.0, **evidence: Any) -> Verdict:
    """Merge the verdicts of several checks into one stage verdict: worst decision, max score per category."""
    scores: dict[str, float] = {}
    for part in parts:
        for category, score in part.scores.items():
            scores[category] = max(scores.get(category, 0.0), score)
    reasons = tuple(r for p in parts for r in p.reasons)
    merged_evidence: dict[str, Any] = {"checks": {p.stage: p.to_dict() for p in parts}}
    merged_evidence.update(evidence)
    return Verdict(stage, Decision.worst([p.decision for p in parts]), scores, reasons, elapsed_ms, merged_evidence)


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` is the elapsed milliseconds."""
    box = [0.0]
    start = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = (time.perf_counter() - start) * 1000.0


class Blocked(Exception):
    """Raised when a request does not get released; carries every stage verdict so far."""

    def __init__(self, verdicts: list[Verdict]) -> None:
        self.verdicts = list(verdicts)
        stopping = [v for v in self.verdicts if v.blocked] or self.verdicts[-1:]
        self.verdict = stopping[0] if stopping else Verdict("pipeline", Decision.BLOCK)
        reason = "; ".join(self.verdict.reasons) or self.verdict.decision.value
        super().__init__(f"blocked at {self.verdict.stage}: {reason}")


#: Evidence keys that may hold prompt text (the prompt as given, normalized or redacted, a rewrite, the words that
#: made it a people prompt): kept out of the ledger, manifests and API responses unless the policy allows.
PROMPT_TEXT_KEYS = frozenset({"prompt", "normalized", "original", "redacted", "text", "people_terms"})
REWRITE_KEYS = frozenset({"prompt"})  # the rewritten prompt a caller acts on: shown even when prompt text is hidden


def strip_prompt_text(value: Any, *, keep_top: frozenset[str] = frozenset()) -> Any:
    """``value`` (a verdict's JSON evidence) without ``PROMPT_TEXT_KEYS`` at any depth.

    ``keep_top``: top-level keys kept anyway; the API keeps ``prompt``, the text a rewrite hands on, which the
    caller needs to act on the rewrite.
    """
    if isinstance(value, dict):
        return {k: strip_prompt_text(v) for k, v in value.items() if k not in PROMPT_TEXT_KEYS or k in keep_top}
    if isinstance(value, list):
        return [strip_prompt_text(v) for v in value]
    return value


_PLAIN = frozenset({str, int, float, bool, type(None)})  # exact types only: a StrEnum or numpy float is not plain


def _jsonable(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:  # most leaves: skip the ABC checks below (merging verdicts walks every leaf)
        return value
    # Plain dicts and lists are almost every inner node (a prompt verdict's evidence holds ~100 of them, walked
    # on every to_dict: in the API's event loop and for each ledger record); the Mapping ABC check costs more
    # than the copy itself. Same result as the general branches below.
    if kind is dict:
        return {k if type(k) is str else str(k): _jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value
