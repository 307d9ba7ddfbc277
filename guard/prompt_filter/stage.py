"""The prompt stage: validate, normalize, run every enabled check, combine into one verdict.

``build_prompt_filter(policy)`` is what the pipeline, CLI and API call. Checks and their models are built
once per filter (and model loads are cached per process), so one filter object serves many prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from guard.policy import Policy
from guard.prompt_filter.normalize import VERSION as NORMALIZE_VERSION
from guard.prompt_filter.normalize import NormalizedPrompt, normalize
from guard.prompt_filter.registry import build_checks
from guard.prompt_filter.spelling import default_repair
from guard.prompt_filter.validation import validate_prompt
from guard.verdict import Verdict, combine, stopwatch


class PromptFilter:
    """A ``PromptStage``: ``filter(prompt) -> Verdict``; ``check_batch(prompts)`` for throughput.

    The verdict's evidence holds ``original``, ``normalized`` (what the checks read) and ``prompt`` (the
    text to pass on: the original with PII redacted and names rewritten, when the policy says rewrite).
    """

    name = "prompt"

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.max_chars = policy.limits.prompt_max_chars
        self.checks, self.combinations = build_checks(policy.prompt)
        self.versions = {c.name: c.version for c in [*self.checks, *self.combinations]}
        self.versions["normalize"] = NORMALIZE_VERSION
        default_repair()  # load the spelling vocabulary (about 2 s of CPU) now, not on the first prompt

    def __call__(self, prompt: str) -> Verdict:
        with stopwatch() as elapsed:
            # 1. Check input (raises InputError / InputTooLarge)
            text = validate_prompt(prompt, self.max_chars)
            # 2. Normalize
            normalized = normalize(text)
            # 3. Run the checks
            parts = [check.check(normalized) for check in self.checks]
        return self._finish(normalized, parts, elapsed[0])

    def check_batch(self, prompts: Sequence[str]) -> list[Verdict]:
        """Same verdicts as calling the filter per prompt, with batched model calls."""
        with stopwatch() as elapsed:
            normalized = [normalize(validate_prompt(p, self.max_chars)) for p in prompts]
            per_check = []
            for check in self.checks:
                if hasattr(check, "check_batch"):
                    per_check.append(check.check_batch(normalized))
                else:
                    per_check.append([check.check(n) for n in normalized])
        share = elapsed[0] / max(len(prompts), 1)
        return [self._finish(n, [column[i] for column in per_check], share) for i, n in enumerate(normalized)]

    def _finish(self, normalized: NormalizedPrompt, parts: list[Verdict], elapsed_ms: float) -> Verdict:
        # 4. Combination rules read the scores so far (minors + any sexual signal)
        scores: dict[str, float] = {}
        for part in parts:
            for category, score in part.scores.items():
                scores[category] = max(scores.get(category, 0.0), score)
        parts = parts + [rule.check(normalized, scores) for rule in self.combinations]
        # 5. Merge: worst decision, max score per category; the prompt to pass on
        passed_on = next((p.evidence["prompt"] for p in parts if "prompt" in p.evidence), normalized.original)
        evidence: dict[str, Any] = {"original": normalized.original, "normalized": normalized.normalized,
                                    "prompt": passed_on, "versions": self.versions}
        return combine(self.name, parts, elapsed_ms, **evidence)


def build_prompt_filter(policy: Policy) -> PromptFilter:
    """The prompt stage for ``policy`` (checks from ``policy.prompt.settings.checks``)."""
    return PromptFilter(policy)
