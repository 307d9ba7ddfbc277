"""Prompt filter fixtures: models (presidio/spaCy, MiniLM) load once per session."""

from __future__ import annotations

import pytest

from guard.policy import Policy, load_policy
from guard.prompt_filter import PromptFilter, build_prompt_filter
from guard.prompt_filter.pii import PiiCheck


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()


@pytest.fixture(scope="session")
def prompt_filter(policy: Policy) -> PromptFilter:
    return build_prompt_filter(policy)


@pytest.fixture(scope="session")
def pii_check() -> PiiCheck:
    return PiiCheck({"likeness_action": "rewrite"})
