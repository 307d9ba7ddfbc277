"""Optional adapter for a local Llama-Guard-style checkpoint (transformers causal LM, local path only).

For users who have a larger guard model: it gets the prompt inside the Llama Guard task template and
must answer ``safe`` or ``unsafe`` followed by category codes (``S1,S10``). Anything else (empty output,
free text, unknown codes) blocks: the check fails closed, unlike filters that let a prompt through
when their guard model errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from guard.errors import ConfigError
from guard.prompt_filter.normalize import NormalizedPrompt
from guard.verdict import Decision, Verdict

# Llama Guard 3 hazard codes mapped to our categories.
CODES = {
    "S1": "violence", "S2": "illicit", "S3": "sexual", "S4": "sexual_minors", "S5": "harassment",
    "S6": "illicit", "S7": "pii", "S8": "illicit", "S9": "illicit", "S10": "hate", "S11": "self_harm",
    "S12": "sexual", "S13": "illicit", "S14": "illicit",
}
_CATEGORY_TEXT = "\n".join(f"{code}: {cat.replace('_', ' ')}." for code, cat in CODES.items())
TEMPLATE = (
    "Task: Check if there is unsafe content in 'User' messages in conversations according to our safety "
    "policy with the below categories.\n\n<BEGIN UNSAFE CONTENT CATEGORIES>\n{categories}\n"
    "<END UNSAFE CONTENT CATEGORIES>\n\n<BEGIN CONVERSATION>\n\nUser: {prompt}\n\n<END CONVERSATION>\n\n"
    "Provide your safety assessment for ONLY THE LAST User message in the above conversation:\n"
    " - First line must read 'safe' or 'unsafe'.\n"
    " - If unsafe, a second line must include a comma-separated list of violated categories.\n"
)
_CODE = re.compile(r"^S\d{1,2}$")


def parse_guard_output(text: str) -> tuple[bool, list[str]] | None:
    """``(unsafe, categories)`` from the model's answer, or ``None`` when it is not a valid answer."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    first = lines[0].lower()
    if first == "safe":
        return False, []
    if first != "unsafe":
        return None
    codes = [c.strip() for c in lines[1].split(",")] if len(lines) > 1 else []
    if not codes or not all(_CODE.match(c) and c in CODES for c in codes):
        return None
    return True, [CODES[c] for c in codes]


@lru_cache(maxsize=2)
def _load(path: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not Path(path).is_dir():
        raise ConfigError(f"llama_guard_path {path!r} is not a directory with a transformers checkpoint")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).eval()
    return tokenizer, model


class LlamaGuardCheck:
    """Asks a local guard LM; blocks on ``unsafe`` and on any answer it cannot parse."""

    name = "llama_guard"
    version = "1"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        path = settings.get("llama_guard_path")
        if not path:
            raise ConfigError("the llama_guard check needs prompt.settings.llama_guard_path (a local directory)")
        self.path = str(path)
        self.max_new_tokens = int(settings.get("llama_guard_max_new_tokens", 10))
        self.tokenizer, self.model = _load(self.path)

    def generate(self, text: str) -> str:
        import torch

        chat = TEMPLATE.format(categories=_CATEGORY_TEXT, prompt=text)
        if getattr(self.tokenizer, "chat_template", None):
            chat = self.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False)
        inputs = self.tokenizer(chat, return_tensors="pt")
        inputs.pop("token_type_ids", None)
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                         pad_token_id=self.tokenizer.pad_token_id or 0)
        return self.tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    def check(self, prompt: NormalizedPrompt) -> Verdict:
        answer = self.generate(prompt.original)
        parsed = parse_guard_output(answer)
        evidence = {"answer": answer[:200]}
        if parsed is None:
            return Verdict(f"prompt.{self.name}", Decision.BLOCK, {"guard_model": 1.0},
                           [f"llama_guard: unparseable answer {answer[:60]!r}: failing closed"], evidence=evidence)
        unsafe, categories = parsed
        if not unsafe:
            return Verdict(f"prompt.{self.name}", Decision.ALLOW, evidence=evidence)
        return Verdict(f"prompt.{self.name}", Decision.BLOCK, {c: 1.0 for c in categories},
                       [f"llama_guard: unsafe ({', '.join(categories)})"], evidence=evidence)
