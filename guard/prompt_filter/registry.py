"""The registry of prompt checks: policy names -> constructors. ``prompt.settings.checks`` enables them.

Order matters only for ``minors_sexual``, which reads the scores of the checks before it and always
runs last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from guard.errors import PolicyError
from guard.policy import StagePolicy
from guard.prompt_filter.blocklist import BlocklistCheck
from guard.prompt_filter.llama_guard import LlamaGuardCheck
from guard.prompt_filter.minors import MinorsSexualCheck
from guard.prompt_filter.normalize import NormalizedPrompt
from guard.prompt_filter.pii import PiiCheck
from guard.prompt_filter.semantic import SemanticCheck
from guard.verdict import Verdict


class PromptCheck(Protocol):
    name: str
    version: str

    def check(self, prompt: NormalizedPrompt) -> Verdict: ...


CHECKS: dict[str, Callable[[StagePolicy], Any]] = {
    "blocklist": lambda p: BlocklistCheck(p.thresholds),
    "pii": lambda p: PiiCheck(p.settings),
    "semantic": lambda p: SemanticCheck(p.thresholds, quantize=bool(p.settings.get("quantize", False))),
    "llama_guard": lambda p: LlamaGuardCheck(p.settings),
}
COMBINATIONS: dict[str, Callable[[StagePolicy], MinorsSexualCheck]] = {
    "minors_sexual": lambda p: MinorsSexualCheck(p.settings),
}
DEFAULT_CHECKS = ("blocklist", "pii", "semantic", "minors_sexual")


def build_checks(policy: StagePolicy) -> tuple[list[Any], list[MinorsSexualCheck]]:
    """The enabled checks (in policy order) and the combination rules, or a PolicyError naming the bad one."""
    names = policy.settings.get("checks", list(DEFAULT_CHECKS))
    unknown = [n for n in names if n not in CHECKS and n not in COMBINATIONS]
    if unknown:
        raise PolicyError(f"unknown prompt check(s) {unknown} in prompt.settings.checks; "
                          f"known: {sorted([*CHECKS, *COMBINATIONS])}")
    checks = [CHECKS[n](policy) for n in names if n in CHECKS]
    combos = [COMBINATIONS[n](policy) for n in names if n in COMBINATIONS]
    return checks, combos
