"""Scan throughput: how much faster than real time ``scan_file`` runs on a 720p 24 fps H.264 clip.

The clip is built from photographs that ship with scikit-image: one shot per photograph, each a
camera pan with a slow zoom (so consecutive frames really differ), encoded with PyAV (libx264).
Measured in the same run, on the same file:

- ``decode``: ``guard.video_io.iter_video`` over every frame, RGB conversion included: the floor
  (PyAV decoding without the RGB conversion is printed too, for reference);
- ``scan``: ``guard.frame_stage.scan_file`` with the default policy (decode + sampling + NudeNet +
  OpenNSFW + aggregation), models already loaded (load time is reported separately).

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


def raw_decode(path: Path) -> int:
    """PyAV decode with no RGB conversion: what decoding costs before ``iter_video`` converts each frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="clip length (default 20 s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; medians are reported")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from guard.frame_stage import _cached_stage, scan_file
    from guard.policy import load_policy
    from guard.video_io import iter_video

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

        decode_times, scan_times, decode_cpu, scan_cpu, raw_times = [], [], [], [], []
        verdict = None
        for _ in range(args.repeats):
            started = time.perf_counter()
            raw_decode(path)
            raw_times.append(time.perf_counter() - started)
            started, cpu = time.perf_counter(), time.process_time()
            decoded = sum(1 for _ in iter_video(path, policy.limits))
            decode_times.append(time.perf_counter() - started)
            decode_cpu.append(time.process_time() - cpu)
            started, cpu = time.perf_counter(), time.process_time()
            verdict = scan_file(path, policy)
            scan_times.append(time.perf_counter() - started)
            scan_cpu.append(time.process_time() - cpu)
        assert verdict is not None and decoded == frames

    decode_s, scan_s = statistics.median(decode_times), statistics.median(scan_times)
    sampled = verdict.evidence["sampled_frames"]
    result = {
        "clip": f"{WIDTH}x{HEIGHT} {FPS} fps H.264, {duration:.1f} s, {frames} frames",
        "cpu_count": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "encode_s": round(encode_s, 2),
        "model_load_s": round(load_s, 2),
        "decode_s": round(decode_s, 3),
        "scan_s": round(scan_s, 3),
        "raw_decode_s": round(statistics.median(raw_times), 3),
        "decode_x_realtime": round(duration / decode_s, 1),
        "scan_x_realtime": round(duration / scan_s, 1),
        "scan_over_decode": round(scan_s / decode_s, 2),
        "best_decode_x_realtime": round(duration / min(decode_times), 1),
        "best_scan_x_realtime": round(duration / min(scan_times), 1),
        "decode_cpu_s": round(statistics.median(decode_cpu), 3),
        "scan_cpu_s": round(statistics.median(scan_cpu), 3),
        "scan_x_realtime_if_2_idle_cores": round(duration / (statistics.median(scan_cpu) / 2), 1),
        "sampled_frames": sampled,
        "sampling": verdict.evidence["sampling"],
        "decision": verdict.decision.value,
        "runs_scan_s": [round(t, 3) for t in scan_times],
        "runs_decode_s": [round(t, 3) for t in decode_times],
    }
    print(f"clip               {result['clip']}")
    print(f"decode alone       {decode_s:.2f} s  = {result['decode_x_realtime']}x real time (the floor)")
    print(f"  of which YUV     {result['raw_decode_s']:.2f} s without the RGB conversion (PyAV alone, reference)")
    print(f"scan (default)     {scan_s:.2f} s  = {result['scan_x_realtime']}x real time "
          f"({sampled} of {frames} frames classified: {result['sampling']})")
    print(f"scan / decode      {result['scan_over_decode']}x the decode time")
    print(f"best runs          decode {result['best_decode_x_realtime']}x, scan {result['best_scan_x_realtime']}x "
          "real time (the least-disturbed of the runs)")
    print(f"CPU time           decode {result['decode_cpu_s']} s, scan {result['scan_cpu_s']} s (all threads); "
          f"on 2 idle cores the scan could reach at best {result['scan_x_realtime_if_2_idle_cores']}x real time")
    print(f"target             scan >= 10x real time: {'met' if duration / scan_s >= 10 else 'NOT met'} "
          f"(1-min load average {result['loadavg_1m']} on {os.cpu_count()} cores)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
