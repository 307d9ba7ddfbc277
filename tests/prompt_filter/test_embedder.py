"""The ONNX fast path of the MiniLM embedder gives the torch model's numbers, and so the same verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from guard.prompt_filter.embedder import MiniLmEmbedder, get_embedder, onnx_model, shared_embeddings
from guard.prompt_filter.normalize import normalize
from guard.prompt_filter.semantic import SemanticCheck

TEXTS = [
    "a cat",
    "A person is riding a bike along a river, 4k, cinematic lighting",
    "a naked woman having sex on a bed, explicit porn",
    "a man stabbing another man repeatedly, blood everywhere",
    "ＮＵＤＥ ｗｏｍａｎ on a café terrace in 東京",
    "a calm meadow with soft light and gentle wind over the grass " * 14,  # past 128 tokens: truncated
    "a teenager cutting her wrists with a razor blade",
]


@pytest.fixture(scope="module")
def torch_eager() -> MiniLmEmbedder:
    return MiniLmEmbedder(backend="torch", jit=False)


@pytest.fixture(scope="module")
def fast() -> MiniLmEmbedder:
    assert get_embedder().backend == "onnx", "onnxruntime is installed, so the default must be the ONNX path"
    return get_embedder(precision="fp32")  # the fp32 export is what must match torch (int8: test_embedder_int8)


def test_when_onnx_then_token_ids_equal_the_transformers_tokenizer(fast: MiniLmEmbedder) -> None:
    expected = [fast.tokenizer(t, truncation=True, max_length=128)["input_ids"] for t in TEXTS]
    ids, mask = fast.token_ids(TEXTS)  # (B, L) each
    got = [list(row[m.astype(bool)]) for row, m in zip(ids, mask, strict=True)]
    assert got == expected


def test_when_onnx_then_embeddings_match_torch_single_and_batched(fast: MiniLmEmbedder,
                                                                  torch_eager: MiniLmEmbedder) -> None:
    reference = torch_eager.embed(TEXTS)  # (N, 384)
    together = fast.embed(TEXTS)
    alone = np.stack([fast.embed([t])[0] for t in TEXTS])
    assert np.abs(together - reference).max() < 1e-4
    assert np.abs(alone - together).max() < 1e-4  # a prompt's embedding never depends on its batch neighbours
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_when_onnx_fp32_then_semantic_scores_and_decisions_equal_the_torch_path(policy,
                                                                               torch_eager: MiniLmEmbedder) -> None:
    fast_check = SemanticCheck(policy.prompt.thresholds)
    fast_check.embedder = get_embedder(precision="fp32")
    slow_check = SemanticCheck(policy.prompt.thresholds)
    slow_check.embedder = torch_eager
    prompts = [normalize(t) for t in TEXTS]
    fast_verdicts, slow_verdicts = fast_check.check_batch(prompts), slow_check.check_batch(prompts)
    for fast_v, slow_v in zip(fast_verdicts, slow_verdicts, strict=True):
        assert fast_v.decision == slow_v.decision
        assert fast_v.scores.keys() == slow_v.scores.keys()
        assert max(abs(fast_v.scores[c] - slow_v.scores[c]) for c in fast_v.scores) < 1e-4
    assert {v.decision.value for v in fast_verdicts} >= {"allow", "block"}  # the set exercises both sides


@pytest.mark.slow
def test_when_cached_export_is_damaged_then_it_is_rebuilt(fast: MiniLmEmbedder,
                                                          torch_eager: MiniLmEmbedder) -> None:
    model, probes = onnx_model()
    good = np.load(probes)
    np.save(probes, good + 0.01)  # the stored reference no longer matches what the file computes
    try:
        rebuilt = MiniLmEmbedder(backend="onnx", precision="fp32")
        assert rebuilt.backend == "onnx"
        assert np.abs(np.load(probes) - good).max() < 1e-4
        assert np.abs(rebuilt.embed(TEXTS) - torch_eager.embed(TEXTS)).max() < 1e-4
    finally:
        onnx_model.cache_clear()


def test_when_backend_unknown_then_value_error() -> None:
    with pytest.raises(ValueError, match="backend"):
        MiniLmEmbedder(backend="tensorflow")


def test_when_inside_shared_embeddings_then_a_text_is_embedded_once_and_nothing_outlives_the_block(
        fast: MiniLmEmbedder) -> None:
    from guard.prompt_filter import embedder as module

    with shared_embeddings():
        first = fast.embed(["a cat on a mat", "a dog"])
        again = fast.embed(["a dog", "a cat on a mat"])  # served from the block's memo: bitwise the same rows
        assert np.array_equal(again, first[::-1])
        assert set(module._embeddings.current() or {}) == {(False, fast.precision, "a cat on a mat"),
                                                            (False, fast.precision, "a dog")}
    assert module._embeddings.current() is None
    assert np.abs(fast.embed(["a dog"])[0] - first[1]).max() < 1e-4


def test_when_chunking_by_token_count_then_each_text_once_and_padding_stays_bounded() -> None:
    from guard.prompt_filter.embedder import PADDING_SLACK, token_chunks

    lengths = [10, 100, 12, 11, 98, 30, 10, 10, 10, 9, 31, 128, 13, 10, 10, 10, 10, 10, 10, 10]
    chunks = token_chunks(lengths, 4)
    assert sorted(i for chunk in chunks for i in chunk) == list(range(len(lengths)))
    assert all(1 <= len(chunk) <= 4 for chunk in chunks)
    for chunk in chunks:
        padded = len(chunk) * max(lengths[i] for i in chunk)
        assert len(chunk) == 1 or padded <= (1 + PADDING_SLACK) * sum(lengths[i] for i in chunk)
    assert not any({0, 1} <= set(chunk) for chunk in chunks)  # a 10-token text never pads to 100
    assert token_chunks([], 16) == []
