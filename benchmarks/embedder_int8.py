"""MiniLM embedder, int8 (static, ``guard.prompt_filter.int8``) against fp32 onnxruntime, in one run.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/embedder_int8.py [--n 600] [--gate]

On VBench prompts (real T2V prompts, as ``api_load.py`` sends), both precisions on the same prompts in the
same process, interleaved in rounds so load on the shared box hits both alike:

- CPU ms per prompt (thread CPU time, the load-independent figure), one prompt per call and in batches of 16
  (the embedder's own chunks of 8 sorted by length, as the filter calls it);
- cosine of each int8 embedding to the fp32 embedding of the same prompt (mean, 1st percentile, min);
- batch invariance: the largest |alone - in a batch of 16 with padding| over the prompts, per precision;
- ``--gate``: CPU ms per prompt of the whole prompt gate (filter + bias gate, ``PromptChain.check_batch``
  in batches of 16 and alone) with each precision.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.api_load import vbench_prompts  # noqa: E402
from guard.prompt_filter.embedder import MiniLmEmbedder  # noqa: E402


def _cpu_ms(fn: Callable[[], object], count: int) -> float:
    start = time.thread_time()
    fn()
    return (time.thread_time() - start) * 1000 / count


def embedder_rows(texts: Sequence[str], rounds: int) -> dict[str, object]:
    fp32, int8 = MiniLmEmbedder(backend="onnx", precision="fp32"), MiniLmEmbedder(backend="onnx", precision="int8")
    assert int8.precision == "int8", "the int8 graph did not load (see the warning above)"
    timings: dict[str, list[float]] = {k: [] for k in ("fp32 single", "int8 single", "fp32 batch16", "int8 batch16")}
    for _ in range(rounds):
        for name, emb in (("fp32", fp32), ("int8", int8)):
            timings[f"{name} single"].append(_cpu_ms(lambda e=emb: [e.embed([t]) for t in texts], len(texts)))
            timings[f"{name} batch16"].append(_cpu_ms(
                lambda e=emb: [e.embed(texts[i:i + 16]) for i in range(0, len(texts), 16)], len(texts)))
    ref, got = fp32.embed(texts), int8.embed(texts)  # (N, 384) each
    cosine = (ref * got).sum(axis=1)
    invariance = {}
    for name, emb in (("fp32", fp32), ("int8", int8)):
        alone = np.concatenate([emb.embed([t]) for t in texts])
        together = np.concatenate([emb.embed(texts[i:i + 16], batch_size=16) for i in range(0, len(texts), 16)])
        invariance[name] = float(np.abs(alone - together).max())
    return {
        "cpu_ms_per_prompt": {k: round(float(np.median(v)), 3) for k, v in timings.items()},
        "speedup_single": round(float(np.median(timings["fp32 single"]) / np.median(timings["int8 single"])), 2),
        "speedup_batch16": round(float(np.median(timings["fp32 batch16"]) / np.median(timings["int8 batch16"])), 2),
        "cosine_int8_to_fp32": {"mean": round(float(cosine.mean()), 5), "p1": round(float(np.percentile(cosine, 1)), 5),
                                "min": round(float(cosine.min()), 5)},
        "max_abs_alone_vs_batch16": invariance,
    }


def gate_rows(texts: Sequence[str]) -> dict[str, float]:
    """Whole prompt gate CPU per prompt with each precision (the embedder is swapped in the built gate)."""
    from guard.assembly import build_prompt_stage
    from guard.policy import load_policy
    from guard.prompt_filter.embedder import get_embedder

    policy = load_policy()
    chain = build_prompt_stage(policy)
    out: dict[str, float] = {}
    few = texts[:200]
    for precision in ("fp32", "int8"):
        os.environ["VIDEOGUARD_EMBEDDER_PRECISION"] = precision
        embedder = get_embedder(precision=precision)
        _swap_embedder(chain, embedder)
        chain.check_batch(list(texts[:16]))  # warm
        out[f"gate {precision} batch16"] = round(_cpu_ms(
            lambda: [chain.check_batch(list(texts[i:i + 16])) for i in range(0, len(texts), 16)], len(texts)), 3)
        out[f"gate {precision} single"] = round(_cpu_ms(lambda: [chain.check_batch([t]) for t in few], len(few)), 3)
    return out


def _swap_embedder(obj: object, embedder: MiniLmEmbedder, seen: set[int] | None = None, depth: int = 0) -> None:
    """Point every ``embedder`` attribute reachable from the gate at ``embedder`` (filter and bias gate)."""
    seen = seen if seen is not None else set()
    if id(obj) in seen or depth > 6:
        return
    seen.add(id(obj))
    values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else None
    if values is None:
        attrs = getattr(obj, "__dict__", None)
        if attrs is None:
            return
        if isinstance(attrs.get("embedder"), MiniLmEmbedder):
            obj.embedder = embedder  # type: ignore[attr-defined]
        values = list(attrs.values())
    for value in values:
        if not isinstance(value, (str, bytes, int, float, np.ndarray)):
            _swap_embedder(value, embedder, seen, depth + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600, help="VBench prompts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gate", action="store_true", help="also time the whole prompt gate with each precision")
    args = parser.parse_args()
    texts = vbench_prompts(2048)[:args.n]
    print(f"load average before: {os.getloadavg()}", flush=True)
    result: dict[str, object] = {"prompts": len(texts), **embedder_rows(texts, args.rounds)}
    if args.gate:
        result["gate_cpu_ms_per_prompt"] = gate_rows(texts)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
