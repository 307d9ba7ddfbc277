"""The static int8 MiniLM graph: batch-independent, close to fp32, rebuilt identically from committed numbers."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from guard.prompt_filter import int8
from guard.prompt_filter.embedder import (
    PRECISION_ENV,
    PROBES,
    MiniLmEmbedder,
    get_embedder,
    onnx_model,
    shared_embeddings,
)

TEXTS = [
    "a cat",
    "A person is riding a bike along a river, 4k, cinematic lighting",
    "a naked woman having sex on a bed, explicit porn",
    "ＮＵＤＥ ｗｏｍａｎ on a café terrace in 東京",
    "a calm meadow with soft light and gentle wind over the grass " * 14,  # past 128 tokens: truncated
    "a teenager cutting her wrists with a razor blade",
    "a man",
]


@pytest.fixture(scope="module")
def quantized() -> MiniLmEmbedder:
    embedder = get_embedder(precision="int8", backend="onnx")
    assert embedder.precision == "int8", "the int8 graph must load on the machine the tests run on"
    return embedder


@pytest.fixture(scope="module")
def full() -> MiniLmEmbedder:
    return get_embedder(precision="fp32", backend="onnx")


def test_when_int8_then_a_prompt_embeds_the_same_alone_and_in_a_padded_batch(quantized: MiniLmEmbedder) -> None:
    alone = np.concatenate([quantized.embed([t]) for t in TEXTS])  # (N, 384)
    # one batch of everything: the short prompts ride with 100+ padding positions beside the long one
    together = quantized.embed(TEXTS, batch_size=len(TEXTS))
    reversed_order = quantized.embed(TEXTS[::-1], batch_size=3)[::-1]  # other neighbours, other padding
    assert np.abs(alone - together).max() < 1e-5
    assert np.abs(alone - reversed_order).max() < 1e-5


def test_when_int8_then_embeddings_stay_close_to_fp32(quantized: MiniLmEmbedder, full: MiniLmEmbedder) -> None:
    cosine = (quantized.embed(TEXTS) * full.embed(TEXTS)).sum(axis=1)
    assert cosine.min() > 0.99
    assert np.abs(quantized.embed(TEXTS) - full.embed(TEXTS)).max() > 1e-4  # it really is a different graph
    assert np.allclose(np.linalg.norm(quantized.embed(TEXTS), axis=1), 1.0, atol=1e-5)


def test_when_int8_then_it_reproduces_the_committed_probe_embeddings(quantized: MiniLmEmbedder) -> None:
    committed = int8.load_calibration()["probes"]  # (P, 384), measured when the calibration file was made
    got = np.concatenate([quantized.embed([t]) for t in PROBES])
    assert np.abs(got - committed).max() < int8.INT8_TOLERANCE


@pytest.mark.slow
def test_when_built_twice_from_the_committed_calibration_then_the_graphs_are_byte_identical(tmp_path: Path) -> None:
    fp32, _ = onnx_model()
    calibration = int8.load_calibration()
    first, second = tmp_path / "a.onnx", tmp_path / "b.onnx"
    int8.build(fp32, calibration, first)
    int8.build(fp32, calibration, second)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() == int8.int8_model().read_bytes()  # and the same as the cached one in use


def test_when_calibration_lacks_an_input_then_smoothing_refuses() -> None:
    import onnx

    fp32, _ = onnx_model()
    maxima = dict(int8.load_calibration()["maxima"])
    maxima.pop(sorted(maxima)[0])
    with pytest.raises(ValueError, match="channel maxima"):
        int8.smooth(onnx.load(str(fp32)), maxima)


def test_when_the_int8_graph_misses_its_probes_then_the_embedder_falls_back_to_fp32(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: MiniLmEmbedder,
        caplog: pytest.LogCaptureFixture) -> None:
    calibration = int8.load_calibration()
    wrong = tmp_path / "calibration.npz"
    int8.save_calibration(wrong, calibration["maxima"], calibration["ranges"], calibration["probes"] + 0.01)
    monkeypatch.setattr(int8, "CALIBRATION_FILE", wrong)  # a calibration file whose probes this graph misses
    monkeypatch.setenv("VIDEOGUARD_MODEL_CACHE", str(tmp_path / "cache"))
    shutil.copytree(onnx_model()[0].parent, tmp_path / "cache" / "minilm")  # reuse the fp32 export, no torch
    onnx_model.cache_clear()
    int8.int8_model.cache_clear()
    try:
        embedder = MiniLmEmbedder(backend="onnx", precision="int8")
        assert embedder.precision == "fp32"
        assert "int8 MiniLM unavailable" in caplog.text
        assert np.abs(embedder.embed(TEXTS) - full.embed(TEXTS)).max() < 1e-6
    finally:
        onnx_model.cache_clear()
        int8.int8_model.cache_clear()


def test_when_precision_is_asked_of_the_torch_backend_or_unknown_then_value_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="onnx backend only"):
        MiniLmEmbedder(backend="torch", precision="int8")
    with pytest.raises(ValueError, match="precision"):
        MiniLmEmbedder(backend="onnx", precision="int4")
    monkeypatch.setenv(PRECISION_ENV, "fp16")
    with pytest.raises(ValueError, match=PRECISION_ENV):
        get_embedder(backend="onnx")


def test_when_both_precisions_share_a_block_then_neither_serves_the_others_rows(
        quantized: MiniLmEmbedder, full: MiniLmEmbedder) -> None:
    with shared_embeddings():
        a = full.embed(["a dog on a beach"])
        b = quantized.embed(["a dog on a beach"])
    assert np.abs(a - b).max() > 1e-4
    assert np.abs(b - quantized.embed(["a dog on a beach"])).max() < 1e-6
