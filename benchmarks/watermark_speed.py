"""Watermark speed: embed and detect frames/s against libx264 encoding the same clip, in the same run.

    .venv/bin/python benchmarks/watermark_speed.py            # 256x256 and 1280x720, 48 frames each
    .venv/bin/python benchmarks/watermark_speed.py --threads 1

The baseline is what every release pays anyway: libx264 (preset medium, CRF 18, the default release setting)
encoding the same frames through PyAV. Ratios below 0.5 mean the watermark costs under half of the encode.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from watermark_attacks import photo  # noqa: E402

import watermark  # noqa: E402


def clip(width: int, height: int, frames: int) -> np.ndarray:
    """A pan over the astronaut photo at the requested size: (frames, height, width, 3) uint8."""
    image = cv2.resize(photo("astronaut"), (int(width * 1.3), int(height * 1.3)), interpolation=cv2.INTER_LINEAR)
    shift = image.shape[1] - width
    return np.stack([image[:height, round(t * shift / max(frames - 1, 1)):][:, :width] for t in range(frames)])


def x264_seconds(frames: np.ndarray, threads: int) -> float:
    buffer = io.BytesIO()
    start = time.perf_counter()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "18", "preset": "medium", "threads": str(threads)}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return time.perf_counter() - start


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2, help="cores for OpenCV and libx264 (the target: 2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="numpy's BLAS threads (1, as the API server runs; a second one spins when busy)")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # (read by libraries loaded later; numpy's BLAS is set below)
    threadpool_limits(limits=args.blas_threads, user_api="blas")
    payload = bytes(range(8))
    print(f"| carrier | size | embed fps | detect fps | libx264 medium encode fps | embed / encode time | "
          f"detect / encode time | detect with the frame rate (as the guard calls it) / encode time |"
          f"   ({args.frames} frames, {args.threads} threads, best of {args.repeats})")
    print("|---|---|---|---|---|---|---|---|")
    for width, height in ((256, 256), (1280, 720)):
        frames = clip(width, height, args.frames)
        encode_s = min(x264_seconds(frames, args.threads) for _ in range(args.repeats))
        for shape in watermark.CARRIER_SHAPES:  # v2 and v3 embed only the frames their carrier marks
            marked = watermark.embed(frames, payload, carrier_shape=shape)
            embed_s = best_of(lambda f=frames, s=shape: watermark.embed(f, payload, carrier_shape=s), args.repeats)
            detect_s = best_of(lambda m=marked: watermark.detect(m), args.repeats)
            keyed_s = best_of(lambda m=marked: watermark.detect(m, fps=24.0), args.repeats)
            n = args.frames
            print(f"| {shape} | {width}x{height} | {n / embed_s:.0f} | {n / detect_s:.0f} | "
                  f"{n / encode_s:.0f} | {embed_s / encode_s:.2f} | {detect_s / encode_s:.2f} | "
                  f"{keyed_s / encode_s:.2f} |")


if __name__ == "__main__":
    main()
