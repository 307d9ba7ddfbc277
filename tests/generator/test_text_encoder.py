"""The generator's text conditioning: contextual MiniLM states, optionally plus the static word-piece embeddings."""

from __future__ import annotations

import pytest
import torch

from generator.text_encoder import encode_captions, load_minilm

PAIR = ["a red square moving right", "a red square moving left"]


@pytest.fixture(scope="module")
def minilm():  # type: ignore[no-untyped-def]
    return load_minilm()


def _cosine_at_direction(states: torch.Tensor) -> float:
    """Cosine of the two captions' states at the direction word ([CLS] a red square moving <right|left>)."""
    return float(torch.nn.functional.cosine_similarity(states[0, 5], states[1, 5], dim=0))


def test_when_static_embeddings_are_added_then_opposite_directions_move_apart(minilm) -> None:  # type: ignore[no-untyped-def]
    tokenizer, model = minilm
    plain = _cosine_at_direction(encode_captions(tokenizer, model, PAIR))
    mixed = _cosine_at_direction(encode_captions(tokenizer, model, PAIR, static_weight=7.5))
    assert plain > 0.75  # measured 0.82: the contextual states nearly merge "right" and "left"
    assert mixed < plain - 0.1


def test_when_static_weight_is_zero_then_padding_stays_zero_and_states_are_the_plain_ones(minilm) -> None:  # type: ignore[no-untyped-def]
    tokenizer, model = minilm
    plain = encode_captions(tokenizer, model, PAIR)
    zero = encode_captions(tokenizer, model, PAIR, static_weight=0.0)
    mixed = encode_captions(tokenizer, model, PAIR, static_weight=7.5)
    assert torch.equal(plain, zero)
    assert torch.all(mixed[:, 10:] == 0)  # 7 tokens per caption: the padding positions carry nothing
