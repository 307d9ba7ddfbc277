"""A statically quantized (int8) MiniLM graph, built from the fp32 ONNX export and committed calibration data.

Why static: dynamic int8 quantization picks each activation's scale from the batch tensor at run time, so a
prompt's embedding depends on the other prompts in its batch (see ``embedder``'s docstring). Here every scale
is fixed in advance, so the int8 graph is a pure function of one prompt's tokens: a prompt embeds the same
alone, in a batch or beside padding (checked in tests to ~1e-6).

What the graph is (chosen on 300 VBench prompts, cosine to the fp32 embedding; ``benchmarks`` in RESULTS.md):

- every MatMul with a weight operand (Q, K, V, attention output, FFN up and down: 36 per model) runs as
  u8 activations x s8 weights, one weight scale per output channel, one activation range per tensor, and a
  float output (``OpTypesToExcludeOutputQuantization``): onnxruntime fuses each DequantizeLinear pair into
  ``MatMulIntegerToFloat`` (VNNI where the CPU has it). Requantizing the outputs (QOperator
  ``QLinearMatMul``) ruined the FFN down projection, whose output spans -4..196 (cosine 0.93);
- the attention score and context MatMuls (activation x activation) stay fp32, as do LayerNorm, GELU,
  softmax, embeddings and pooling;
- SmoothQuant (Xiao et al. 2023) with alpha 0.8 in front of every quantized MatMul: LayerNorm and GELU
  outputs have a few channels 10-25x larger than the rest, which would set the whole tensor's uint8 step;
  a ``Mul`` by ``1/s`` (per input channel) and the weight rows scaled by ``s`` move that range into the
  weights (exact in fp32). Mean cosine to fp32 0.9893 without it, 0.9982 with it (min 0.9957).

Determinism across machines: the graph is rebuilt at first use from (a) the fp32 export, which is itself
checked against the torch weights, and (b) ``minilm_int8_calibration.npz`` in the package: per smoothed input,
the channel maxima measured once; per quantized activation, its fixed (min, max). Both were measured by
``python -m guard.prompt_filter.int8`` on 512 training-split prompts of the prompt filter's data (never the
test split) and are committed, so no machine calibrates on its own and every machine derives the same scales
and weights from the same numbers (onnxruntime's quantizer rounds deterministically). The calibration file
(~90 kB) was preferred over committing the int8 ``.onnx`` itself: the word-embedding table stays fp32, so
that file would be 58 MB. The file also carries the int8 graph's embeddings of the probe texts; a built
graph whose probes differ by more than ``INT8_TOLERANCE`` (a different quantizer, or a CPU whose int8
kernels saturate) is refused, and the caller falls back to fp32 with a warning. The build needs ``onnx`` and an
onnxruntime whose ``quantize_static`` takes ``calibration_cache_path`` (1.32.0 here); without them, fp32 too.
Not verified: CPUs without VNNI (AVX2 only), where onnxruntime's u8 x s8 kernel may saturate 16-bit sums; if that
moves the probes past the tolerance there, such a machine runs fp32. 7-bit weights (``reduce_range``), which avoid
the saturation, cost accuracy here (cosine to fp32 0.9972 against 0.9982), so they were not chosen.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from guard.prompt_filter.resources import DATA_DIR

log = logging.getLogger(__name__)

CALIBRATION_FILE = DATA_DIR / "minilm_int8_calibration.npz"
INT8_VERSION = "1"  # bump when the build recipe changes: old cached graphs are then ignored
SMOOTH_ALPHA = 0.8  # SmoothQuant migration strength (0.5, 0.65, 0.7, 0.8, 0.9 tried; 0.8 and 0.9 best)
INT8_TOLERANCE = 1e-3  # max |built - committed| on the probe embeddings (int8 vs fp32 differs by ~1e-2)
CALIBRATION_PROMPTS = 512
CALIBRATION_SEED = 0


def _weighted_matmuls(model: Any) -> list[Any]:
    """MatMul nodes whose second operand is a weight (an initializer): the ones worth quantizing."""
    weights = {i.name for i in model.graph.initializer}
    return [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights]


def _activation_matmuls(model: Any) -> list[str]:
    weights = {i.name for i in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] not in weights]


def _smoothing_groups(model: Any) -> dict[str, list[Any]]:
    """Quantized MatMuls grouped by their activation input (Q, K and V share one: they get one scale)."""
    groups: dict[str, list[Any]] = {}
    for node in _weighted_matmuls(model):
        groups.setdefault(node.input[0], []).append(node)
    return groups


def smooth(model: Any, maxima: dict[str, np.ndarray], alpha: float = SMOOTH_ALPHA) -> Any:
    """SmoothQuant in place: ``x @ W == (x / s) @ (s W)``, ``s = max|x|^a / max|W row|^(1-a)`` per input channel."""
    from onnx import helper, numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    groups = _smoothing_groups(model)
    missing = sorted(set(groups) - set(maxima))
    if missing:
        raise ValueError(f"calibration has no channel maxima for {len(missing)} inputs, e.g. {missing[0]}")
    for index, (source, nodes) in enumerate(sorted(groups.items())):
        weights = [numpy_helper.to_array(inits[n.input[1]]) for n in nodes]  # each (in, out)
        w_max = np.max([np.abs(w).max(axis=1) for w in weights], axis=0)  # (in,)
        x_max = maxima[source].astype(np.float64)  # (in,)
        scale = (np.maximum(x_max, 1e-5) ** alpha / np.maximum(w_max, 1e-5) ** (1 - alpha)).astype(np.float32)
        for node, weight in zip(nodes, weights, strict=True):
            inits[node.input[1]].CopyFrom(numpy_helper.from_array((weight * scale[:, None]).astype(np.float32),
                                                                  node.input[1]))
        factor, smoothed = f"/smooth/{index}/inverse_scale", f"/smooth/{index}/output_0"
        model.graph.initializer.append(numpy_helper.from_array((1.0 / scale).astype(np.float32), factor))
        mul = helper.make_node("Mul", [source, factor], [smoothed], name=f"/smooth/{index}/Mul")
        first = min(list(model.graph.node).index(n) for n in nodes)
        model.graph.node.insert(first, mul)
        for node in nodes:
            node.input[0] = smoothed
    return model


def _quantize(smoothed: Path, ranges: dict[str, tuple[float, float]], target: Path, exclude: list[str]) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import TensorData, TensorsData, save_tensors_data

    data = TensorsData(CalibrationMethod.MinMax, {
        name: TensorData(lowest=np.array([lo], dtype=np.float32), highest=np.array([hi], dtype=np.float32))
        for name, (lo, hi) in ranges.items()})
    quiet = _DropPreprocessingAdvice()
    logging.getLogger().addFilter(quiet)  # the quantizer advises pre-processing on the root logger each time
    try:
        with tempfile.TemporaryDirectory(prefix="videoguard-int8-") as tmp:
            cache = Path(tmp) / "ranges.json"
            save_tensors_data(data, cache)
            quantize_static(str(smoothed), str(target), None, quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                            op_types_to_quantize=["MatMul"], nodes_to_exclude=exclude,
                            calibrate_method=CalibrationMethod.MinMax, calibration_cache_path=str(cache),
                            extra_options={"OpTypesToExcludeOutputQuantization": ["MatMul"]})
    finally:
        logging.getLogger().removeFilter(quiet)


class _DropPreprocessingAdvice(logging.Filter):
    """Drops onnxruntime's "consider pre-processing" notice: the fp32 export is already shape-complete for
    what the quantizer needs here (tried: ``quant_pre_process`` first gives the same graph quality)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()


def build(fp32: Path, calibration: dict[str, Any], target: Path) -> None:
    """The int8 graph from the fp32 export and committed calibration numbers, written atomically to ``target``."""
    import onnx

    model = smooth(onnx.load(str(fp32)), calibration["maxima"])
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="videoguard-int8-", dir=target.parent) as tmp:
        smoothed, out = Path(tmp) / "smoothed.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, str(smoothed))
        _quantize(smoothed, calibration["ranges"], out, _activation_matmuls(model))
        os.replace(out, target)


def save_calibration(path: Path, maxima: dict[str, np.ndarray], ranges: dict[str, tuple[float, float]],
                     probes: np.ndarray) -> None:
    """One small ``.npz``: names and arrays only (no pickles)."""
    max_names = sorted(maxima)
    range_names = sorted(ranges)
    np.savez_compressed(
        path, version=np.array(INT8_VERSION), alpha=np.array(SMOOTH_ALPHA, dtype=np.float64),
        maxima_names=np.array(max_names), maxima_lengths=np.array([len(maxima[n]) for n in max_names]),
        maxima=np.concatenate([maxima[n] for n in max_names]).astype(np.float32),
        range_names=np.array(range_names), ranges=np.array([ranges[n] for n in range_names], dtype=np.float32),
        probes=probes.astype(np.float32))


def load_calibration(path: Path | None = None) -> dict[str, Any]:
    """``{"maxima", "ranges", "probes"}`` from the committed file (``CALIBRATION_FILE`` unless given)."""
    path = path or CALIBRATION_FILE
    with np.load(path, allow_pickle=False) as z:
        if str(z["version"]) != INT8_VERSION or float(z["alpha"]) != SMOOTH_ALPHA:
            raise ValueError(f"{path.name} is for int8 recipe {z['version']} / alpha {z['alpha']}, "
                             f"not {INT8_VERSION} / {SMOOTH_ALPHA}: run python -m guard.prompt_filter.int8")
        bounds = np.cumsum(z["maxima_lengths"])[:-1]
        maxima = dict(zip(z["maxima_names"].tolist(), np.split(z["maxima"], bounds), strict=True))
        ranges = {n: (float(lo), float(hi)) for n, (lo, hi) in zip(z["range_names"].tolist(), z["ranges"],
                                                                   strict=True)}
        return {"maxima": maxima, "ranges": ranges, "probes": z["probes"].copy()}


# ------------------------------------------------------------------------------------------ calibration
def _outputs(model_path: Path, names: Sequence[str], feeds: Sequence[tuple[np.ndarray, np.ndarray]]
             ) -> dict[str, list[np.ndarray]]:
    """The named intermediate tensors for each feed (the graph gets them as extra outputs)."""
    import onnx

    from guard.prompt_filter.embedder import _onnx_session

    model = onnx.load(str(model_path))
    for name in names:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    with tempfile.TemporaryDirectory(prefix="videoguard-int8-") as tmp:
        augmented = Path(tmp) / "augmented.onnx"
        onnx.save(model, str(augmented))
        session = _onnx_session(augmented, 1)
        got: dict[str, list[np.ndarray]] = {n: [] for n in names}
        for ids, mask in feeds:
            for name, value in zip(names, session.run(list(names), {"input_ids": ids, "attention_mask": mask}),
                                   strict=True):
                got[name].append(value)
    return got


def calibration_texts(count: int = CALIBRATION_PROMPTS, seed: int = CALIBRATION_SEED) -> list[str]:
    """Windows of ``count`` training-split prompts (benign and unsafe, every source), as the filter embeds them."""
    import random

    from guard.prompt_filter.dataset import load_rows, split_of
    from guard.prompt_filter.embedder import windows
    from guard.prompt_filter.normalize import normalize

    rows = sorted((r for r in load_rows() if split_of(r) == "train"), key=lambda r: r.text)
    random.Random(seed).shuffle(rows)
    return [w for r in rows[:count] for w in windows(normalize(r.text).corrected)]


def calibrate(texts: Sequence[str], fp32: Path) -> tuple[dict[str, np.ndarray], dict[str, tuple[float, float]]]:
    """Channel maxima of every smoothed input (fp32 graph), then (min, max) of every quantized activation
    (smoothed graph), over single-prompt runs: no padding enters a range."""
    import onnx

    from guard.prompt_filter.embedder import get_embedder

    embedder = get_embedder(precision="fp32", backend="onnx")
    feeds = [embedder.token_ids([t]) for t in texts]
    model = onnx.load(str(fp32))
    sources = sorted(_smoothing_groups(model))
    seen = _outputs(fp32, sources, feeds)
    maxima = {n: np.max([np.abs(v.reshape(-1, v.shape[-1])).max(axis=0) for v in seen[n]], axis=0)
              for n in sources}
    smoothed_model = smooth(model, maxima)
    quantized_inputs = sorted({n.input[0] for n in _weighted_matmuls(smoothed_model)})
    with tempfile.TemporaryDirectory(prefix="videoguard-int8-") as tmp:
        smoothed = Path(tmp) / "smoothed.onnx"
        onnx.save(smoothed_model, str(smoothed))
        seen = _outputs(smoothed, quantized_inputs, feeds)
    ranges = {n: (float(min(v.min() for v in seen[n])), float(max(v.max() for v in seen[n])))
              for n in quantized_inputs}
    return maxima, ranges


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure the int8 MiniLM calibration file (maintainers only: "
                                                 "needs the prompt filter's training data).")
    parser.add_argument("--out", type=Path, default=CALIBRATION_FILE)
    parser.add_argument("--prompts", type=int, default=CALIBRATION_PROMPTS)
    args = parser.parse_args()
    from guard.prompt_filter.embedder import PROBES, _onnx_session, get_embedder, onnx_model

    start = time.perf_counter()
    texts = calibration_texts(args.prompts)
    fp32, _ = onnx_model()
    maxima, ranges = calibrate(texts, fp32)
    with tempfile.TemporaryDirectory(prefix="videoguard-int8-") as tmp:
        target = Path(tmp) / "int8.onnx"
        build(fp32, {"maxima": maxima, "ranges": ranges}, target)
        embedder = get_embedder(precision="fp32", backend="onnx")
        session = _onnx_session(target, 1)
        probes = np.concatenate([session.run(None, dict(zip(("input_ids", "attention_mask"),
                                                            embedder.token_ids([t]), strict=True)))[0]
                                 for t in PROBES])
    save_calibration(args.out, maxima, ranges, probes)
    print(f"{len(texts)} windows of {args.prompts} prompts; {len(maxima)} smoothed inputs, {len(ranges)} ranges; "
          f"wrote {args.out} ({args.out.stat().st_size} bytes) in {time.perf_counter() - start:.0f} s")


@lru_cache(maxsize=1)
def int8_model() -> Path:
    """The cached int8 graph for the bundled weights and committed calibration: built now if absent."""
    from guard.prompt_filter.embedder import onnx_model

    fp32, _ = onnx_model()
    digest = hashlib.sha256(CALIBRATION_FILE.read_bytes()).hexdigest()[:12]  # new calibration, new file
    target = fp32.with_name(fp32.name.replace(".onnx", f".int8-v{INT8_VERSION}-{digest}.onnx"))
    if not target.exists():
        start = time.perf_counter()
        build(fp32, load_calibration(), target)
        log.info("built the int8 MiniLM graph at %s in %.1f s", target, time.perf_counter() - start)
    return target


if __name__ == "__main__":
    main()
