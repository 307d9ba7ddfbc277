"""Write a PNG to look at: the most-changed frame of each carrier next to the unmarked frame, for a few clips.

Why: the clip figures (PSNR, SSIM) average the frames a carrier marks with the ones it leaves alone, and the flicker
model is only a model. A viewer who pauses, or a thumbnail taken from frame 0, sees one frame on its own; this
sheet shows that frame (columns: unmarked, then each carrier of ``watermark.CARRIER_SHAPES``; one row per clip,
native pixels). In the eleventh session the pulse (format v3) frames showed the cell pattern on smooth areas at a
glance, the doublet's (v2) hardly, Manchester's (v1) not at all.

    .venv/bin/python benchmarks/watermark_look.py -o /tmp/watermark_look.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from watermark_attacks import natural_clips  # noqa: E402

import watermark  # noqa: E402

FPS = 24.0


def sheet(clips: list[np.ndarray], payload: bytes) -> np.ndarray:
    """(rows x H, (1 + carriers) x W, 3) uint8: per clip, the unmarked frame and each carrier's most-changed frame."""
    rows = []
    for clip in clips:
        marked = {s: watermark.embed(clip, payload, fps=FPS, carrier_shape=s) for s in watermark.CARRIER_SHAPES}
        change = {s: np.abs(m.astype(np.int16) - clip).mean(axis=(1, 2, 3)) for s, m in marked.items()}
        row = [clip[int(np.argmax(change[watermark.CARRIER_SHAPES[0]]))]]  # the first carrier's worst frame, unmarked
        row += [m[int(np.argmax(change[s]))] for s, m in marked.items()]
        rows.append(np.hstack(row))
    return np.vstack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    parser.add_argument("--clips", type=int, default=4, help="benchmark clips (seeds 0, 1, ...), one row each")
    args = parser.parse_args()
    image = sheet(natural_clips(args.clips), bytes(range(8)))
    if not cv2.imwrite(str(args.output), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise SystemExit(f"could not write {args.output}")
    print(f"wrote {args.output}: rows = clips, columns = unmarked, {', '.join(watermark.CARRIER_SHAPES)}")


if __name__ == "__main__":
    main()
