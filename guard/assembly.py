"""Builds the real stages from the policy, in one place.

Each stage's factory lives beside its code (``guard.prompt_filter``, ``guard.bias``,
``guard.frame_stage``, ``guard.watermark_stage``, ``guard.generator_stage``). A factory that is not
importable or fails to build leaves the stage missing, and the pipeline then refuses to release
wherever the policy requires that stage: nothing is silently skipped.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from guard.ledger import Ledger
from guard.manifest_store import ManifestStore
from guard.ner import shared_docs
from guard.pipeline import GuardedPipeline
from guard.policy import Policy
from guard.provenance import ProvenanceSigner
from guard.stages import PromptStage
from guard.verdict import Decision, Verdict, combine, stopwatch

log = logging.getLogger(__name__)


def _factory(module: str, name: str) -> Callable[..., Any] | None:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        log.info("stage factory %s.%s unavailable: %s", module, name, exc)
        return None


def _embedding_scope() -> AbstractContextManager[None]:
    """One MiniLM embedding per text for the whole chain (filter and bias gate), when the filter is installed."""
    try:
        from guard.prompt_filter.embedder import shared_embeddings
    except ImportError:
        return nullcontext()
    return shared_embeddings()


@contextmanager
def _shared_scope() -> Iterator[None]:
    """One MiniLM embedding and one spaCy parse per text for the whole chain: the filter's PII check and the bias
    gate's people recognizer both read the prompt's NER, its semantic check and the stereotype head its embedding."""
    with _embedding_scope(), shared_docs():
        yield


class PromptChain:
    """The prompt gate: the prompt filter, then the bias gate on the filter's output text."""

    name = "prompt"

    def __init__(self, checks: list[PromptStage]) -> None:
        self.checks = checks

    def __call__(self, prompt: str) -> Verdict:
        with stopwatch() as elapsed, _shared_scope():
            parts, text = self._rest(prompt, [])
        return self._merge(prompt, parts, text, elapsed[0])

    def check_batch(self, prompts: Sequence[str]) -> list[Verdict]:
        """The same verdicts as one call per prompt, with the first check (the filter: its embedding and spaCy
        calls) batched when it supports it; the cheap rule checks after it run per prompt.

        Any exception (an invalid prompt in the batch) propagates, as the single call's would: the caller
        then checks prompt by prompt."""
        if not prompts:
            return []
        first = self.checks[0] if self.checks else None
        batched = getattr(first, "check_batch", None)
        if batched is None:
            return [self(p) for p in prompts]
        with _shared_scope():  # the bias gate reuses the filter's batched embeddings and parses of the same texts
            with stopwatch() as elapsed:
                firsts = batched(list(prompts))
            share = elapsed[0] / len(prompts)
            out = []
            for prompt, verdict in zip(prompts, firsts, strict=True):
                with stopwatch() as rest_ms:
                    parts, text = self._rest(prompt, [verdict])
                out.append(self._merge(prompt, parts, text, share + rest_ms[0]))
        return out

    def _rest(self, prompt: str, parts: list[Verdict]) -> tuple[list[Verdict], str]:
        """Run the checks after ``parts`` (already done), each on the text the previous one passed on.

        The passed-on text is taken before looking at the decision: a blocked prompt's verdict must still carry
        the redacted text (PII removed), since verdicts are logged and stored in the ledger."""
        text = prompt
        for verdict in parts:
            text = str(verdict.evidence.get("prompt", text))
            if verdict.decision.stops_release:
                return parts, text
        for check in self.checks[len(parts):]:
            verdict = check(text)
            parts.append(verdict)
            text = str(verdict.evidence.get("prompt", text))
            if verdict.decision.stops_release:
                break
        return parts, text

    def _merge(self, prompt: str, parts: list[Verdict], text: str, elapsed_ms: float) -> Verdict:
        merged = combine(self.name, parts, elapsed_ms, prompt=text, original=prompt,
                         normalized=parts[0].evidence.get("normalized", prompt) if parts else prompt)
        for part in parts:
            for key in ("diversified", "people", "attributes", "stereotype"):
                if key in part.evidence:
                    merged = Verdict(merged.stage, merged.decision, merged.scores, merged.reasons,
                                     merged.elapsed_ms, {**merged.evidence, key: part.evidence[key]})
        if text != prompt and merged.decision is Decision.ALLOW:
            merged = Verdict(merged.stage, Decision.REWRITE, merged.scores,
                             (*merged.reasons, "prompt rewritten before generation"), merged.elapsed_ms,
                             merged.evidence)
        return merged


def build_prompt_stage(policy: Policy) -> PromptStage | None:
    checks: list[PromptStage] = []
    prompt_filter = _factory("guard.prompt_filter", "build_prompt_filter")
    if prompt_filter is None:
        return None  # the filter is the gate: without it there is no prompt stage
    checks.append(prompt_filter(policy))
    bias = _factory("guard.bias", "build_bias_gate")
    if bias is not None:
        checks.append(bias(policy))
    elif policy.bias.required:
        return None
    return PromptChain(checks)


def build_pipeline(policy: Policy, *, generator: Any = None, with_generator: bool = True,
                   ledger: Ledger | None = None, store: ManifestStore | None = None) -> GuardedPipeline:
    """The pipeline with every stage the policy names; ``generator`` overrides the configured model."""
    frame_factory = _factory("guard.frame_stage", "build_frame_stage")
    watermark_factory = _factory("guard.watermark_stage", "build_watermark_stage")
    gen = generator
    if gen is None and with_generator:
        gen_factory = _factory("guard.generator_stage", "build_generator")
        gen = gen_factory(policy) if gen_factory is not None else None
    elif gen is not None and not hasattr(gen, "name"):
        gen_factory = _factory("guard.generator_stage", "build_generator")
        gen = gen_factory(policy, gen) if gen_factory is not None else None
    return GuardedPipeline(
        policy=policy,
        prompt=build_prompt_stage(policy),
        generator=gen,
        frames=frame_factory(policy) if frame_factory is not None else None,
        watermark=watermark_factory(policy) if watermark_factory is not None else None,
        signer=ProvenanceSigner.from_material(),
        ledger=ledger or Ledger(),
        store=store or ManifestStore(),
    )
