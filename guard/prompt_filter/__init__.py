"""The prompt filter: the first gate of videoguard (normalization, blocklist, PII/likeness, semantic
classifier, minors+sexual rule, optional local guard LM). Entry point: ``build_prompt_filter(policy)``."""

from guard.prompt_filter.normalize import NormalizedPrompt, normalize
from guard.prompt_filter.stage import PromptFilter, build_prompt_filter

__all__ = ["NormalizedPrompt", "PromptFilter", "build_prompt_filter", "normalize"]
