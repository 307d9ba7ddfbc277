"""The bias gate: a prompt stage that runs after the prompt filter, on the filter's output text.

1. Recognize people and the attributes the prompt states (gender, age, skin tone/ethnicity,
   religion, disability).
2. Recognize stereotype-harm (a protected group tied to crime, violence, disease, ...): block or
   flag per policy, with the reason.
3. Otherwise, when diversification is enabled and a person is depicted with no attribute stated,
   rewrite the prompt with sampled attributes (decision ``rewrite``, ``evidence["prompt"]``).
"""

from __future__ import annotations

from typing import Any

from guard.bias.diversify import Diversifier
from guard.bias.registry import build_attributes, build_people, build_stereotype, check_names
from guard.bias.settings import BiasSettings, bias_settings
from guard.bias.stereotype import StereotypeFinding
from guard.errors import InputError
from guard.policy import Policy
from guard.verdict import Decision, Verdict, stopwatch


class BiasGate:
    """``PromptStage`` named ``bias``; see the module docstring for the steps."""

    name = "bias"
    version = "1"

    def __init__(self, settings: BiasSettings) -> None:
        check_names(settings.recognizers)
        self.settings = settings
        self.people = build_people(settings.use_spacy)
        self.attributes = build_attributes(settings.recognizers)
        self.stereotype = build_stereotype(settings.recognizers, settings.stereotype_head,
                                           settings.stereotype_question_forms)
        if self.stereotype is not None and self.stereotype.head is not None:
            self.stereotype.head.score(["warm up"])  # load and trace MiniLM now, not on the first request
        if settings.use_spacy:
            self.people.warm_up()  # load spaCy once, at construction, not on the first request
        div = settings.diversify
        try:
            distribution = {a: w for a, w in div.distribution.items() if w}  # null disables an attribute
            self.diversifier = Diversifier(distribution, div.seed) if div.enabled else None
        except ValueError as exc:
            raise InputError(f"invalid policy at bias.settings.{exc}") from exc

    def __call__(self, prompt: str) -> Verdict:
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError(f"bias gate needs a non-empty prompt string, got {prompt!r:.40}")
        with stopwatch() as elapsed:
            verdict = self._decide(prompt)
        return verdict.with_timing(elapsed[0])

    def _stereotype(self, prompt: str) -> StereotypeFinding | None:
        """The rule on the prompt as written, then on its normalized form ("mexicans are cr1m1nals"), then
        the semantic head (when enabled) on the normalized form: one embedding per prompt."""
        if self.stereotype is None:
            return None
        finding = self.stereotype.recognize_rule(prompt)
        if finding.found:
            return finding
        normalized = _normalized(prompt)
        if normalized != prompt.casefold():
            again = self.stereotype.recognize_rule(normalized)
            if again.found:
                return again
        return self.stereotype.recognize_head(normalized, finding)

    def _decide(self, prompt: str) -> Verdict:
        # 1. People and stated attributes.
        people = self.people.recognize(prompt)
        found = [r.recognize(prompt) for r in self.attributes]
        attributes = {r.recognizer: list(r.terms) for r in found if r.found}
        evidence: dict[str, Any] = {"people": people.found, "people_terms": list(people.terms),
                                    "attributes": attributes, "diversified": {},
                                    "recognizers": {r.name: r.version for r in [self.people, *self.attributes,
                                                                                 *filter(None, [self.stereotype])]}}
        # 2. Stereotype harm.
        finding = self._stereotype(prompt)
        evidence["stereotype"] = finding.to_evidence() if finding else {"found": False, "reason": "not enabled"}
        if finding and finding.found:
            decision = Decision(self.settings.stereotype_decision)
            return Verdict(self.name, decision, {"stereotype": 1.0}, (f"stereotype: {finding.explanation}",),
                           evidence=evidence)
        scores = {"stereotype": 0.0}
        # 3. Diversification.
        named = any(t.startswith("PERSON:") for t in people.terms)
        if self.diversifier is None or not people.found:
            return Verdict(self.name, Decision.ALLOW, scores, evidence=evidence)
        if attributes or named:
            evidence["diversify_skipped"] = "prompt names a person" if named else "prompt already states attributes"
            return Verdict(self.name, Decision.ALLOW, scores, evidence=evidence)
        result = self.diversifier.diversify(prompt)
        if not result.added:
            evidence["diversify_skipped"] = result.reason
            return Verdict(self.name, Decision.ALLOW, scores, evidence=evidence)
        evidence.update(prompt=result.prompt, diversified=result.added)
        return Verdict(self.name, Decision.REWRITE, scores, (f"diversified: {result.reason}",), evidence=evidence)


def _normalized(prompt: str) -> str:
    """The prompt filter's normalization (leetspeak, look-alike letters, "c.r.i.m.e"), when available."""
    try:
        from guard.prompt_filter.normalize import normalize
    except ImportError:
        return prompt
    return normalize(prompt).normalized


def build_bias_gate(policy: Policy) -> BiasGate:
    """The factory the pipeline calls: a ``PromptStage`` configured from ``policy.bias.settings``."""
    return BiasGate(bias_settings(policy))
