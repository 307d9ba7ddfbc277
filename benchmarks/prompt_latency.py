"""Prompt filter latency (one prompt) and throughput (batched), in-process, against baselines in the same run.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/prompt_latency.py [--n 300] [--threads 2]

Prompts are VBench prompts (real T2V prompts, short and long), each timed once with the normalization cache
cleared, and every batched prompt is distinct, so no cache helps. Measured in the same run on the same prompts:

- baseline: one float32 all-MiniLM-L6-v2 embedding per prompt, transformers eager (the plain way to run the
  classifier's model);
- ``filter, torch``: the whole prompt filter with MiniLM on the torch backend (the TorchScript trace the
  filter used before the ONNX path), i.e. the "before" figure;
- ``filter, onnx``: the whole prompt filter as shipped (MiniLM on onnxruntime);
- ``gate, onnx``: the prompt gate the API and pipeline run (filter, then the bias gate), single and through
  ``PromptChain.check_batch``.

Per row: wall-clock p50/p99 of one prompt, batched prompts/s, and the process CPU time per prompt (the
load-independent figure on a shared box). The load average is printed because the box is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from guard.assembly import build_prompt_stage  # noqa: E402
from guard.policy import load_policy  # noqa: E402
from guard.prompt_filter import build_prompt_filter  # noqa: E402
from guard.prompt_filter.dataset import DEFAULT_DATA  # noqa: E402
from guard.prompt_filter.embedder import MiniLmEmbedder, get_embedder  # noqa: E402
from guard.prompt_filter.normalize import normalize  # noqa: E402


def _single(fn: Callable[[str], Any], texts: Sequence[str]) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, CPU ms per prompt) of one call per prompt."""
    ms = []
    cpu = time.process_time()
    for text in texts:
        normalize.cache_clear()  # measure the whole path, normalization included
        start = time.perf_counter()
        fn(text)
        ms.append((time.perf_counter() - start) * 1000)
    cpu_ms = (time.process_time() - cpu) * 1000 / len(texts)
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), cpu_ms


def _batched(fn: Callable[[list[str]], Any], texts: Sequence[str], size: int, workers: int = 1) -> tuple[float, float]:
    """(prompts/s, CPU ms per prompt) through ``fn`` in batches of ``size``, on ``workers`` threads at once.

    With ``workers`` 2 and one intra-op thread, two batches run side by side as the API's two CPU workers run
    them: onnxruntime and spaCy's matrix products release the GIL, the Python rule checks do not."""
    normalize.cache_clear()
    chunks = [list(texts[i:i + size]) for i in range(0, len(texts), size)]
    cpu = time.process_time()
    start = time.perf_counter()
    if workers <= 1:
        for chunk in chunks:
            fn(chunk)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(fn, chunks))
    return len(texts) / (time.perf_counter() - start), (time.process_time() - cpu) * 1000 / len(texts)


def _filter_on(backend: str) -> Any:
    """The prompt filter with its semantic check's MiniLM on ``backend``."""
    stage = build_prompt_filter(load_policy())
    for check in stage.checks:
        if hasattr(check, "embedder"):
            check.embedder = get_embedder(backend=backend)
    return stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="prompts for the single-prompt latency")
    parser.add_argument("--batch-prompts", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64, help="prompts per check_batch call (the API batches 16)")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads for torch and onnxruntime (default: $OMP_NUM_THREADS or all cores)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--skip-torch", action="store_true", help="skip the 'filter, torch' (before) rows")
    parser.add_argument("--workers", type=int, default=1,
                        help="threads running batches side by side (the API runs 2 CPU workers; issue 3's '2 cores')")
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads or int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1))
    rng = random.Random(0)
    lines = (args.data / "benign" / "vbench_prompts.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    singles = rng.sample(texts, args.n)
    batch = [rng.choice(texts) + f" {i}" for i in range(args.batch_prompts)]  # distinct: no cache hits

    baseline = MiniLmEmbedder(backend="torch", jit=False)
    rows: list[tuple[str, Callable[[str], Any], Callable[[list[str]], Any]]] = [
        ("baseline: MiniLM embedding alone, torch eager", lambda t: baseline.embed([t]), baseline.embed)]
    if not args.skip_torch:
        before = _filter_on("torch")
        rows.append(("filter, torch/TorchScript MiniLM (before)", before, before.check_batch))
    after = _filter_on("onnx")
    rows.append(("filter, onnxruntime MiniLM (shipped)", after, after.check_batch))
    gate = build_prompt_stage(load_policy())
    if gate is not None:
        rows.append(("prompt gate (filter + bias gate), shipped", gate, gate.check_batch))
    for _, single, batched in rows:  # warm up every path
        for text in singles[:10]:
            single(text + " warmup")
        batched([t + " warmup" for t in singles[:16]])

    results = []
    for name, single, batched in rows:
        p50, p99, cpu = _single(single, singles)
        tput, batch_cpu = _batched(batched, batch, args.batch_size, args.workers)
        results.append((name, p50, p99, cpu, tput, batch_cpu))

    load = os.getloadavg()
    print(f"threads {args.threads or os.environ.get('OMP_NUM_THREADS') or os.cpu_count()}, cpu count "
          f"{os.cpu_count()}, batch workers {args.workers}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
          f"onnx backend "
          f"{get_embedder().backend}")
    base = results[0]
    print(f"| path | one prompt p50 ms (n={args.n}) | p99 ms | CPU ms/prompt | batched prompts/s "
          f"(batch {args.batch_size}, {args.workers} workers) | batched CPU ms/prompt | p50 / baseline "
          f"| batched / baseline |")
    print("|---|---|---|---|---|---|---|---|")
    for name, p50, p99, cpu, tput, batch_cpu in results:
        print(f"| {name} | {p50:.2f} | {p99:.2f} | {cpu:.2f} | {tput:.0f} | {batch_cpu:.2f} | "
              f"{p50 / base[1]:.2f} | {tput / base[4]:.2f} |")


if __name__ == "__main__":
    main()
