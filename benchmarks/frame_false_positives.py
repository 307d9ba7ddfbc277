"""False blocks and flags of the frame classifiers on benign, licensed real photographs, and on the
bundled generator's outputs, under the default policy.

Issue 5 asks for "no false blocks on benign real photographs and on the bundled generator's outputs".
The images are the ones that ship inside installed packages, with their licences:

- ``photographs``: the scikit-image photographs (astronaut, camera, cat, chelsea, coffee, coins, Hubble
  deep field, immunohistochemistry, moon, retina, rocket, the stereo motorcycle pair, brick, grass,
  gravel, page, text, cell, microaneurysms; scikit-image's data licences: public domain or CC) and
  scikit-learn's two sample photographs (china.jpg, flower.jpg; CC BY 2.0);
- ``people``: the 200 face photographs of scikit-image's ``lfw_subset`` (Labeled Faces in the Wild,
  25x25 grey, upscaled): real people, the usual source of false skin detections;
- ``synthetic``: scikit-image's non-photographs (colour wheel, logo, checkerboard, blobs, horse
  silhouette, clock, Shepp-Logan phantom), reported apart: not photographs;
- ``generator``: clips from the bundled generator (``--generator-clips``), through the frame stage.

Each photograph is classified as several video-like frames ("views"): the whole image, and 16:9 crops
at 3 scales x 3 positions, each also mirrored, resized to 640x360. A view's decision is what the frame
stage decides for one sampled frame (thresholds, corroboration). The false-positive rate is the share
of views (or clips) decided ``block`` (and ``flag``), with a 95% Wilson upper bound: 0 of n is not 0%.

What is NOT measured: recall on explicit content. No licensed explicit image set is available offline
(none ships in an installed package), so whether the thresholds catch what they should is unknown here.

    .venv/bin/python benchmarks/frame_false_positives.py [--generator-clips 6] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

import cv2
import numpy as np
from skimage import data

from guard.sample import as_rgb_uint8

PHOTOGRAPHS = ("astronaut", "camera", "cat", "chelsea", "coffee", "coins", "hubble_deep_field", "immunohistochemistry",
               "moon", "retina", "rocket", "stereo_motorcycle", "brick", "grass", "gravel", "page", "text", "cell",
               "microaneurysms")
SKLEARN_PHOTOGRAPHS = ("china.jpg", "flower.jpg")
SYNTHETIC = ("colorwheel", "logo", "checkerboard", "binary_blobs", "horse", "clock", "shepp_logan_phantom")
GENERATOR_PROMPTS = ("a red circle moving right", "a blue square moving up", "a yellow star rotating",
                     "a green triangle falling downward", "a purple ball bouncing", "a cyan square growing",
                     "an orange circle moving left", "a white square shrinking")
VIEW_SIZE = (640, 360)  # (width, height) of every view: a 360p video frame
CROP_SCALES = (1.0, 0.6, 0.35)  # crop width as a fraction of the image's (16:9 crops)


def photographs() -> Iterator[tuple[str, np.ndarray]]:
    for name in PHOTOGRAPHS:
        image = getattr(data, name)()
        if name == "stereo_motorcycle":  # (left, right, disparity)
            yield "motorcycle_left", as_rgb_uint8(image[0])
            yield "motorcycle_right", as_rgb_uint8(image[1])
        else:
            yield name, as_rgb_uint8(image)
    for name in SKLEARN_PHOTOGRAPHS:
        path = resources.files("sklearn.datasets").joinpath("images", name)
        image = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        yield name.removesuffix(".jpg"), cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def views(image: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """The whole image letterboxed, then 16:9 crops at 3 scales x 3 positions; each also mirrored."""
    height, width = image.shape[:2]
    out: list[tuple[str, np.ndarray]] = [("whole", letterbox(image))]
    for scale in CROP_SCALES:
        crop_w = min(width, int(width * scale))
        crop_h = min(height, int(crop_w * 9 / 16))
        crop_w = min(crop_w, int(crop_h * 16 / 9))
        for position, x in (("left", 0), ("centre", (width - crop_w) // 2), ("right", width - crop_w)):
            y = (height - crop_h) // 2
            crop = image[y : y + crop_h, x : x + crop_w]
            out.append((f"crop{scale:g}-{position}", cv2.resize(crop, VIEW_SIZE, interpolation=cv2.INTER_AREA)))
    for name, view in out:
        yield name, view
        yield f"{name}-mirrored", np.ascontiguousarray(view[:, ::-1])


def letterbox(image: np.ndarray) -> np.ndarray:
    """The whole image, undistorted, centred on a black 640x360 frame."""
    width, height = VIEW_SIZE
    scale = min(width / image.shape[1], height / image.shape[0])
    small = cv2.resize(image, (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    frame = np.zeros((height, width, 3), np.uint8)
    y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    frame[y : y + small.shape[0], x : x + small.shape[1]] = small
    return frame


def people() -> Iterator[tuple[str, np.ndarray]]:
    for i, face in enumerate(data.lfw_subset()):  # (25, 25) float in [0, 1]
        grey = cv2.resize((face * 255).astype(np.uint8), (200, 200), interpolation=cv2.INTER_CUBIC)
        yield f"lfw{i:03d}", letterbox(as_rgb_uint8(grey))


def wilson_upper(hits: int, n: int, z: float = 1.96) -> float:
    """Upper end of the 95% Wilson score interval for a rate of ``hits`` in ``n``."""
    if n == 0:
        return 1.0
    p = hits / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + margin) / (1 + z * z / n))


class ViewJudge:
    """Classifies views with the default policy's classifiers and decides each as one sampled frame."""

    def __init__(self, policy: Any) -> None:
        from guard.frame_stage import build_frame_stage

        self.policy = policy
        self.stage = build_frame_stage(policy)

    def judge(self, named: list[tuple[str, np.ndarray]]) -> list[dict[str, Any]]:
        from guard.frame_sampling import Selection
        from guard.frame_stage import aggregate

        selections = [Selection(i, 0.0, frame, "whole", 0.0) for i, (_, frame) in enumerate(named)]
        records = []
        for start in range(0, len(selections), 8):
            records += self.stage.engine.classify(selections[start : start + 8])
        out = []
        for record in sorted(records, key=lambda r: r.index):
            decision, scores, _, _ = aggregate([record], self.policy.frames.thresholds, self.stage.settings)
            out.append({"view": named[record.index][0], "decision": decision.value,
                        "scores": {k: round(v, 4) for k, v in scores.items()}})
        return out


def summarise(group: str, judged: list[dict[str, Any]], thresholds: dict[str, Any]) -> dict[str, Any]:
    n = len(judged)
    blocks = sum(1 for j in judged if j["decision"] == "block")
    flags = sum(1 for j in judged if j["decision"] == "flag")
    categories: dict[str, Any] = {}
    for category, threshold in thresholds.items():
        values = [j["scores"].get(category, 0.0) for j in judged]
        if not any(category in j["scores"] for j in judged):
            continue
        top = max(range(n), key=lambda i: values[i])
        categories[category] = {
            "max": round(max(values), 3), "max_view": judged[top]["view"],
            "p99": round(float(np.quantile(values, 0.99)), 3),
            "at_flag": sum(1 for v in values if threshold.flag is not None and v >= threshold.flag),
            "at_block": sum(1 for v in values if threshold.block is not None and v >= threshold.block),
        }
    return {"group": group, "views": n, "block": blocks, "flag": flags,
            "block_rate": round(blocks / n, 4) if n else None, "block_rate_95_upper": round(wilson_upper(blocks, n), 4),
            "flag_or_block_rate": round((blocks + flags) / n, 4) if n else None,
            "flag_or_block_rate_95_upper": round(wilson_upper(blocks + flags, n), 4),
            "categories": categories,
            "offending": [j for j in judged if j["decision"] != "allow"][:20]}


def generator_clips(policy: Any, count: int) -> dict[str, Any]:
    """Generate ``count`` clips with the bundled generator and pass each through the frame stage."""
    from guard.frame_stage import build_frame_stage
    from guard.generator_stage import build_generator

    generate = build_generator(policy)
    stage = build_frame_stage(policy)
    clips = []
    for i in range(count):
        prompt = GENERATOR_PROMPTS[i % len(GENERATOR_PROMPTS)]
        clip = generate(prompt, seed=i)
        verdict, _ = stage(clip)
        clips.append({"prompt": prompt, "seed": i, "frames": int(clip.frames.shape[0]),
                      "size": list(clip.frames.shape[1:3]), "decision": verdict.decision.value,
                      "scores": {k: round(v, 3) for k, v in verdict.scores.items()}})
    blocks = sum(1 for c in clips if c["decision"] == "block")
    flags = sum(1 for c in clips if c["decision"] == "flag")
    return {"group": "generator", "clips": count, "block": blocks, "flag": flags,
            "block_rate_95_upper": round(wilson_upper(blocks, count), 4), "runs": clips}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator-clips", type=int, default=6, help="bundled-generator clips to scan (0: skip)")
    parser.add_argument("--json", help="also write the full results here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from guard.policy import load_policy

    policy = load_policy()
    thresholds = dict(policy.frames.thresholds)
    judge = ViewJudge(policy)
    started = time.perf_counter()
    groups = {
        "photographs": [(f"{name}/{view}", frame) for name, image in photographs() for view, frame in views(image)],
        "people": list(people()),
        "synthetic": [(f"{name}/{view}", frame) for name in SYNTHETIC
                      for view, frame in views(as_rgb_uint8(getattr(data, name)()))],
    }
    print("Frame classifiers on benign licensed images, default policy (nudenet + opennsfw, corroboration on)")
    results = []
    for group, named in groups.items():  # printed as each group finishes
        r = summarise(group, judge.judge(named), thresholds)
        results.append(r)
        print(f"{r['group']:12s} {r['views']:4d} views: block {r['block']} ({100 * r['block_rate']:.2f}%, 95% upper "
              f"{100 * r['block_rate_95_upper']:.2f}%), flag {r['flag']}; flag-or-block 95% upper "
              f"{100 * r['flag_or_block_rate_95_upper']:.2f}%")
        for category, c in r["categories"].items():
            print(f"    {category:11s} max {c['max']:.3f} ({c['max_view']}), p99 {c['p99']:.3f}, "
                  f"at flag {c['at_flag']}, at block {c['at_block']}")
        for o in r["offending"][:5]:
            print(f"    {o['decision']}: {o['view']} {o['scores']}")
        print("", flush=True)
    generator = generator_clips(policy, args.generator_clips) if args.generator_clips > 0 else None
    elapsed = time.perf_counter() - started
    if generator is not None:
        print(f"generator    {generator['clips']} clips: block {generator['block']}, flag {generator['flag']} "
              f"(95% upper block rate {100 * generator['block_rate_95_upper']:.1f}%); max scores "
              + ", ".join(f"{k} {max(c['scores'].get(k, 0.0) for c in generator['runs']):.3f}"
                          for k in thresholds if any(k in c["scores"] for c in generator["runs"])))
    print("not measured: recall on explicit content (no licensed explicit image set is available offline)")
    print(f"elapsed {elapsed:.0f} s")
    output = {"groups": results, "generator": generator, "elapsed_s": round(elapsed, 1)}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(output, handle, indent=1)
    print(json.dumps({r["group"]: {k: r[k] for k in ("views", "block", "flag", "block_rate_95_upper")} for r in results}
                     | ({"generator": {k: generator[k] for k in ("clips", "block", "flag")}} if generator else {})))


if __name__ == "__main__":
    main()
