"""Scan throughput: how much faster than real time ``scan_file`` runs on a 720p 24 fps H.264 clip.

The clip is built from photographs that ship with scikit-image: one shot per photograph, each a
camera pan with a slow zoom (so consecutive frames really differ), encoded with PyAV (libx264).
Measured in the same run, on the same file:

- ``decode``: ``guard.video_io.iter_frames`` over every frame (PyAV decoding, no RGB conversion): the
  floor, since every frame must be decoded;
- ``decode + RGB``: ``guard.video_io.iter_video``, every frame converted to RGB (the floor before the
  scan stopped converting frames it does not classify);
- ``scan``: ``guard.frame_stage.scan_file`` with the default policy (decode + sampling + NudeNet +
  OpenNSFW + aggregation), models already loaded (load time is reported separately); the sampler sees
  every frame through its YUV planes and only the selected frames are converted to RGB;
- ``previous path``: the scan as it was before the YUV sampler and the per-frame worker pool: the same
  sampler fed by ``iter_video`` (every frame converted to RGB first) and the models run in lock-step,
  one call per model per batch (``LockstepEngine``): the before/after baseline, in the same run. Its
  per-frame scores are compared with the scan's: the selected frames and their scores must be the same.

Figures are medians over ``--repeats`` runs, reported as real-time factors (video seconds per
wall-clock second) and as the ratio scan / decode. Target: scan >= 10x real time on 2 cores.
The machine is shared, so the 1-minute load average is printed, and the process CPU time (all
threads) too: CPU time / 2 is the best wall time two idle cores could give.

    .venv/bin/python benchmarks/scan_throughput.py [--seconds 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from skimage import data

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat", "camera", "coins", "hubble_deep_field")
WIDTH, HEIGHT, FPS = 1280, 720, 24


def photo(name: str) -> np.ndarray:
    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def make_clip(path: Path, seconds: float, shot_seconds: float = 2.5) -> int:
    """Encode ``seconds`` of 720p24 H.264: one pan-and-zoom shot per photograph, streamed frame by frame."""
    total = int(round(seconds * FPS))
    per_shot = int(round(shot_seconds * FPS))
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for index in range(total):
            shot, step = divmod(index, per_shot)
            image = photo(PHOTOS[shot % len(PHOTOS)])
            zoom = 1.0 + 0.25 * step / per_shot  # slow zoom in
            scale = zoom * max((WIDTH + 4 * per_shot) / image.shape[1], HEIGHT * 1.1 / image.shape[0])
            big = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)),
                             interpolation=cv2.INTER_LINEAR)
            x = min(big.shape[1] - WIDTH, 4 * step)  # pan right, 4 px per frame
            y = (big.shape[0] - HEIGHT) // 2
            frame = np.ascontiguousarray(big[y : y + HEIGHT, x : x + WIDTH])  # (720, 1280, 3) uint8
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return total


def lockstep_engine(policy: Any) -> Any:
    """The previous engine: each batch is one call per model, the models in parallel, both awaited."""
    from concurrent.futures import ThreadPoolExecutor

    from guard.frame_stage import FrameEngine, _cached_stage, _check_output

    class LockstepEngine(FrameEngine):
        def __init__(self, classifiers: list[Any], settings: Any) -> None:
            super().__init__(classifiers, settings, workers=1)
            self._pool = ThreadPoolExecutor(max_workers=len(classifiers))

        def _run_all(self, frames: Any) -> dict[str, list[Any]]:
            futures = {c.name: self._pool.submit(c.classify, frames) for c in self.classifiers}
            outputs = {name: future.result() for name, future in futures.items()}
            for name, results in outputs.items():
                _check_output(name, results, len(frames))
            return outputs

    stage = _cached_stage(policy)
    return LockstepEngine(stage.engine.classifiers, stage.settings)


def scan_previous_path(path: Path, policy: Any, engine: Any) -> list[Any]:
    """The previous scan path: every frame converted to RGB before sampling, models in lock-step."""
    from guard.frame_sampling import FrameSampler
    from guard.frame_stage import _background_batches
    from guard.video_io import iter_video

    sampler = FrameSampler(engine.settings.sampling)
    return engine.run(_background_batches(iter_video(path, policy.limits), sampler, engine.settings.batch_size))


def scan_records(path: Path, policy: Any) -> list[Any]:
    """The current scan path's per-frame records (what ``scan_file`` aggregates)."""
    from guard.frame_sampling import FrameSampler
    from guard.frame_stage import _background_batches, _cached_stage
    from guard.video_io import iter_frames

    stage = _cached_stage(policy)
    sampler = FrameSampler(stage.settings.sampling)
    return stage.engine.run(_background_batches(iter_frames(path, policy.limits), sampler,
                                                stage.settings.batch_size))


def compare_records(new: list[Any], old: list[Any]) -> dict[str, Any]:
    """Same frames selected, and the largest score difference over the frames both paths classified."""
    new_by, old_by = {r.index: r for r in new}, {r.index: r for r in old}
    common = sorted(set(new_by) & set(old_by))
    diff = max((abs(new_by[i].scores.get(c, 0.0) - old_by[i].scores.get(c, 0.0))
                for i in common for c in set(new_by[i].scores) | set(old_by[i].scores)), default=0.0)
    return {"same_frames": set(new_by) == set(old_by), "only_new": sorted(set(new_by) - set(old_by)),
            "only_old": sorted(set(old_by) - set(new_by)), "max_score_diff": round(diff, 6)}


def timed(fn: Any) -> tuple[float, float, Any]:
    """(wall s, process CPU s of all threads, result)."""
    started, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - started, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="clip length (default 20 s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; medians are reported")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from guard.frame_stage import _cached_stage, scan_file
    from guard.policy import load_policy
    from guard.video_io import iter_frames, iter_video

    policy = load_policy()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pan720p.mp4"
        started = time.perf_counter()
        frames = make_clip(path, args.seconds)
        encode_s = time.perf_counter() - started
        duration = frames / FPS

        started = time.perf_counter()
        _cached_stage(policy)  # load the models once, as a long-running process would
        load_s = time.perf_counter() - started
        scan_file(path, policy)  # warm-up (first ONNX runs allocate)
        previous = lockstep_engine(policy)
        comparison = compare_records(scan_records(path, policy), scan_previous_path(path, policy, previous))

        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in ("decode", "decode_rgb", "scan", "previous")}
        verdict = None
        for _ in range(args.repeats):  # interleaved, so load changes hit every measure alike
            wall, cpu, decoded = timed(lambda: sum(1 for _ in iter_frames(path, policy.limits)))
            runs["decode"].append((wall, cpu))
            wall, cpu, decoded_rgb = timed(lambda: sum(1 for _ in iter_video(path, policy.limits)))
            runs["decode_rgb"].append((wall, cpu))
            wall, cpu, verdict = timed(lambda: scan_file(path, policy))
            runs["scan"].append((wall, cpu))
            wall, cpu, _ = timed(lambda: scan_previous_path(path, policy, previous))
            runs["previous"].append((wall, cpu))
        assert verdict is not None and decoded == decoded_rgb == frames

    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    best = {k: min(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
    sampled = verdict.evidence["sampled_frames"]
    result = {
        "clip": f"{WIDTH}x{HEIGHT} {FPS} fps H.264, {duration:.1f} s, {frames} frames",
        "cpu_count": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "encode_s": round(encode_s, 2),
        "model_load_s": round(load_s, 2),
        "decode_s": round(wall["decode"], 3),
        "decode_rgb_s": round(wall["decode_rgb"], 3),
        "scan_s": round(wall["scan"], 3),
        "previous_path_s": round(wall["previous"], 3),
        "decode_x_realtime": round(duration / wall["decode"], 1),
        "decode_rgb_x_realtime": round(duration / wall["decode_rgb"], 1),
        "scan_x_realtime": round(duration / wall["scan"], 1),
        "previous_path_x_realtime": round(duration / wall["previous"], 1),
        "scan_over_decode": round(wall["scan"] / wall["decode"], 2),
        "scan_over_previous_path": round(wall["scan"] / wall["previous"], 2),
        "best_decode_x_realtime": round(duration / best["decode"], 1),
        "best_scan_x_realtime": round(duration / best["scan"], 1),
        "best_previous_path_x_realtime": round(duration / best["previous"], 1),
        "decode_cpu_s": round(cpu["decode"], 3),
        "decode_rgb_cpu_s": round(cpu["decode_rgb"], 3),
        "scan_cpu_s": round(cpu["scan"], 3),
        "previous_path_cpu_s": round(cpu["previous"], 3),
        "scan_x_realtime_if_2_idle_cores": round(duration / (cpu["scan"] / 2), 1),
        "sampled_frames": sampled,
        "sampling": verdict.evidence["sampling"],
        "decision": verdict.decision.value,
        "scores_vs_previous_path": comparison,
        "runs": {k: [round(w, 3) for w, _ in v] for k, v in runs.items()},
    }
    print(f"clip               {result['clip']}")
    print(f"decode alone       {wall['decode']:.2f} s  = {result['decode_x_realtime']}x real time (the floor: "
          f"every frame decoded, none converted)")
    print(f"decode + RGB       {wall['decode_rgb']:.2f} s  = {result['decode_rgb_x_realtime']}x real time "
          "(every frame converted to RGB: the previous floor)")
    print(f"scan (default)     {wall['scan']:.2f} s  = {result['scan_x_realtime']}x real time "
          f"({sampled} of {frames} frames classified: {result['sampling']})")
    print(f"previous path      {wall['previous']:.2f} s  = {result['previous_path_x_realtime']}x real time "
          "(RGB every frame, models in lock-step; same run)")
    print(f"scan / decode      {result['scan_over_decode']}x the decode time; scan / previous path "
          f"{result['scan_over_previous_path']}")
    print(f"same results       {comparison} (current vs previous path: selected frames, max score difference)")
    print(f"best runs          decode {result['best_decode_x_realtime']}x, scan {result['best_scan_x_realtime']}x, "
          f"previous path {result['best_previous_path_x_realtime']}x real time (least-disturbed runs)")
    print(f"CPU time           decode {result['decode_cpu_s']} s, decode + RGB {result['decode_rgb_cpu_s']} s, "
          f"scan {result['scan_cpu_s']} s, previous path {result['previous_path_cpu_s']} s (all threads); "
          f"on 2 idle cores the scan could reach at best {result['scan_x_realtime_if_2_idle_cores']}x real time")
    print(f"target             scan >= 10x real time: {'met' if duration / wall['scan'] >= 10 else 'NOT met'} "
          f"(1-min load average {result['loadavg_1m']} on {os.cpu_count()} cores)")
    print(json.dumps(result))

if __name__ == "__main__":
    main()
