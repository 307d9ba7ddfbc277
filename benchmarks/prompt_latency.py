"""Prompt filter latency (one prompt) and throughput (batched), in-process, with a baseline.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/prompt_latency.py [--n 300] [--threads 2]

Prompts are VBench prompts (real T2V prompts, short and long). The baseline, measured in the same run on
the same prompts, is one float32 all-MiniLM-L6-v2 embedding call per prompt (transformers eager, mean
pooling): the plain way to run the classifier's model, without the filter's TorchScript trace. Figures
are printed as milliseconds and as ratios to the baseline; the load average is printed too because the
box is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from guard.policy import load_policy  # noqa: E402
from guard.prompt_filter import build_prompt_filter  # noqa: E402
from guard.prompt_filter.dataset import DEFAULT_DATA  # noqa: E402
from guard.prompt_filter.embedder import MiniLmEmbedder  # noqa: E402
from guard.prompt_filter.normalize import normalize  # noqa: E402


def _percentiles(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="prompts for the single-prompt latency")
    parser.add_argument("--batch-prompts", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    rng = random.Random(0)
    lines = (args.data / "benign" / "vbench_prompts.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    singles = rng.sample(texts, args.n)
    batch = [rng.choice(texts) + f" {i}" for i in range(args.batch_prompts)]  # distinct: no cache hits

    stage = build_prompt_filter(load_policy())
    baseline = MiniLmEmbedder(quantize=False, jit=False)
    for text in singles[:20]:  # warm up both
        stage(text + " warmup")
        baseline.embed([text])

    base_ms, stage_ms = [], []
    for text in singles:
        start = time.perf_counter()
        baseline.embed([text])
        base_ms.append((time.perf_counter() - start) * 1000)
        normalize.cache_clear()  # measure the whole path, normalization included
        start = time.perf_counter()
        stage(text)
        stage_ms.append((time.perf_counter() - start) * 1000)
    b50, b99 = _percentiles(base_ms)
    s50, s99 = _percentiles(stage_ms)

    start = time.perf_counter()
    for i in range(0, len(batch), args.batch_size):
        baseline.embed(batch[i:i + args.batch_size])
    base_tput = len(batch) / (time.perf_counter() - start)
    normalize.cache_clear()
    start = time.perf_counter()
    for i in range(0, len(batch), args.batch_size):
        stage.check_batch(batch[i:i + args.batch_size])
    stage_tput = len(batch) / (time.perf_counter() - start)

    load = os.getloadavg()
    print(f"torch threads {args.threads}, cpu count {os.cpu_count()}, load average {load[0]:.1f} {load[1]:.1f}")
    print("| measure | baseline: fp32 MiniLM embedding | prompt filter (all checks) | ratio filter/baseline |")
    print("|---|---|---|---|")
    print(f"| one prompt p50 (ms), n={args.n} | {b50:.2f} | {s50:.2f} | {s50 / b50:.2f} |")
    print(f"| one prompt p99 (ms) | {b99:.2f} | {s99:.2f} | {s99 / b99:.2f} |")
    print(f"| batched throughput (prompts/s), batch {args.batch_size} | {base_tput:.0f} | {stage_tput:.0f} | "
          f"{stage_tput / base_tput:.2f} |")


if __name__ == "__main__":
    main()
