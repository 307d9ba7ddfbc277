"""Write a PNG to look at: the same marked frame for each carrier next to the unmarked frame, for a few clips.

Why: the clip figures (PSNR, SSIM) average the frames a carrier marks with the ones it leaves alone, and the flicker
model is only a model. A viewer who pauses, or a thumbnail taken from frame 0, sees one frame on its own; this
sheet shows that frame (columns: unmarked, then each carrier of ``watermark.CARRIER_SHAPES``; one row per clip,
native pixels). Frame ``FRAME`` is shown everywhere: every carrier marks it at its full per-frame amplitude (the
pulse's second frame, the doublet's first slot, Manchester's every frame), so the columns differ only by the mark.
In the eleventh session the pulse (format v3) frames showed the cell pattern on smooth areas at a glance, the
doublet's (v2) hardly, Manchester's (v1) not at all.

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
FRAME = 1  # marked by every carrier at 24 fps (see the docstring)


def sheet(clips: list[np.ndarray], payload: bytes) -> np.ndarray:
    """(rows x H, (1 + carriers) x W, 3) uint8: per clip, frame ``FRAME`` unmarked and marked by each carrier."""
    rows = []
    for clip in clips:
        row = [clip[FRAME]]
        for shape in watermark.CARRIER_SHAPES:
            marked = watermark.embed(clip, payload, fps=FPS, carrier_shape=shape)
            if np.array_equal(marked[FRAME], clip[FRAME]):
                raise SystemExit(f"internal: the {shape} carrier left frame {FRAME} unmarked")
            row.append(marked[FRAME])
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
