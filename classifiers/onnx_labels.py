"""Any ONNX image classifier with a label list, configured entirely in the policy.

The policy gives the file ``path``, the output ``labels`` in order, a ``label_map`` to our
categories, and the input recipe: ``size`` [height, width], ``layout`` NCHW or NHWC, ``channels``
RGB or BGR, pixel ``scale`` (e.g. 1/255), ``mean`` and ``std`` per channel, and whether the output
is ``logits`` (softmax), ``multilabel_logits`` (sigmoid) or already ``probabilities``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from classifiers.base import FrameScores, check_frames, default_threads, onnx_session, sigmoid, softmax
from classifiers.label_map import category_scores, check_label_map

OUTPUTS = ("logits", "multilabel_logits", "probabilities")


class OnnxLabelClassifier:
    """An ONNX model whose single output is (N, C) over ``labels``."""

    version: str
    concurrent_calls = True  # ONNX Runtime sessions run concurrently; preprocessing is per call

    def __init__(self, name: str, path: str, labels: Sequence[str], label_map: Mapping[str, str] | None = None, *,
                 size: Sequence[int] = (224, 224), layout: str = "NCHW", channels: str = "RGB",
                 scale: float = 1 / 255, mean: Sequence[float] = (0.0, 0.0, 0.0),
                 std: Sequence[float] = (1.0, 1.0, 1.0), output: str = "logits", threads: int | None = None) -> None:
        if layout not in ("NCHW", "NHWC"):
            raise ValueError(f"layout for {name} must be NCHW or NHWC, got {layout!r}")
        if channels not in ("RGB", "BGR"):
            raise ValueError(f"channels for {name} must be RGB or BGR, got {channels!r}")
        if output not in OUTPUTS:
            raise ValueError(f"output for {name} must be one of {OUTPUTS}, got {output!r}")
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"size for {name} must be [height, width], got {list(size)}")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std for {name} need 3 values each (std > 0), got {list(mean)}, {list(std)}")
        self.name = name
        self._labels = [str(label) for label in labels]
        self._label_map = check_label_map(label_map, self._labels, name)
        self._session = onnx_session(str(path), threads or default_threads())
        self._input = self._session.get_inputs()[0].name
        self._size = (int(size[0]), int(size[1]))
        self._layout, self._channels, self._output = layout, channels, output
        self._scale = float(scale)
        self._mean = np.asarray(mean, np.float32)
        self._std = np.asarray(std, np.float32)
        self.categories = tuple(sorted(set(self._label_map.values())))
        self.version = f"onnx:{str(path).rsplit('/', 1)[-1]}"

    def classify(self, frames: np.ndarray) -> list[FrameScores]:
        frames = check_frames(frames)  # (N, H, W, 3) uint8
        if len(frames) == 0:
            return []
        height, width = self._size
        batch = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames])
        if self._channels == "BGR":
            batch = batch[..., ::-1]
        x = (batch.astype(np.float32) * self._scale - self._mean) / self._std  # (N, h, w, 3)
        if self._layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)  # (N, 3, h, w)
        (out,) = self._session.run(None, {self._input: np.ascontiguousarray(x, dtype=np.float32)})[:1]
        out = np.asarray(out, np.float64).reshape(len(frames), -1)  # (N, C)
        if out.shape[1] != len(self._labels):
            raise ValueError(f"{self.name} outputs {out.shape[1]} values per frame but {len(self._labels)} "
                             "labels are configured")
        if self._output == "logits":
            out = softmax(out)
        elif self._output == "multilabel_logits":
            out = sigmoid(out)
        return [FrameScores(row) for row in category_scores(out, self._labels, self._label_map)]
