"""The optional local guard-LM adapter: a real load from disk, and it fails closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.errors import ConfigError
from guard.prompt_filter.llama_guard import LlamaGuardCheck, parse_guard_output
from guard.prompt_filter.normalize import normalize
from guard.prompt_filter.resources import minilm_path
from guard.verdict import Decision


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("safe", (False, [])),
        ("\n\nsafe\n", (False, [])),
        ("unsafe\nS1", (True, ["violence"])),
        ("unsafe\nS4,S12", (True, ["sexual_minors", "sexual"])),
        ("unsafe", None),
        ("unsafe\nS99", None),
        ("unsafe\nviolence", None),
        ("I cannot help with that", None),
        ("", None),
        ("Safe-ish", None),
    ],
)
def test_when_guard_answer_then_parsed_or_none(answer: str, expected: object) -> None:
    assert parse_guard_output(answer) == expected


@pytest.fixture(scope="module")
def tiny_guard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama built from a config (random weights) with the MiniLM tokenizer, saved to disk."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny-guard")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id,
                         eos_token_id=tokenizer.sep_token_id)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_when_tiny_model_answers_gibberish_then_check_fails_closed(tiny_guard: Path) -> None:
    check = LlamaGuardCheck({"llama_guard_path": str(tiny_guard), "llama_guard_max_new_tokens": 4})
    verdict = check.check(normalize("a cat on a sofa"))
    assert verdict.decision is Decision.BLOCK
    assert "unparseable" in verdict.reasons[0]
    assert isinstance(verdict.evidence["answer"], str)


@pytest.mark.parametrize("settings", [{}, {"llama_guard_path": "/nonexistent/guard-model"}])
def test_when_guard_path_missing_then_config_error(settings: dict) -> None:
    with pytest.raises(ConfigError, match="llama_guard_path"):
        LlamaGuardCheck(settings)
