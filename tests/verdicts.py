"""One definition of "these two verdicts say the same thing", for tests that compare a faster or batched path
with the plain one (the prompt gate's fast path, the API's micro-batcher)."""

from __future__ import annotations

from guard.verdict import Verdict

#: Evidence keys a prompt verdict must carry identically on both paths.
PROMPT_EVIDENCE_KEYS = ("prompt", "original", "normalized", "people", "attributes", "stereotype", "diversified")


def assert_same_verdict(got: Verdict, expected: Verdict, *, score_tol: float) -> None:
    """Same decision, reasons and evidence; scores equal within ``score_tol`` (float paths may differ slightly)."""
    assert got.decision == expected.decision
    assert got.reasons == expected.reasons
    assert got.scores.keys() == expected.scores.keys()
    assert max((abs(got.scores[c] - expected.scores[c]) for c in expected.scores), default=0.0) < score_tol
    for key in PROMPT_EVIDENCE_KEYS:
        assert got.evidence.get(key) == expected.evidence.get(key), key
