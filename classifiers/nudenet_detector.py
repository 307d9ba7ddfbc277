"""NudeNet (``nudenet`` 3.4.2, the bundled YOLOv8n ``320n.onnx``) as a batched frame classifier.

The upstream ``NudeDetector`` runs one image per call through OpenCV's BGR path; here the same
preprocessing (letterbox to a square, bottom/right zero padding, bilinear resize to 320, RGB / 255)
and postprocessing (class-agnostic NMS at 0.25 / 0.45, candidates from 0.2) run on a whole batch in
one ``session.run``. Channel order: upstream's file-path route ends up feeding BGR (a cvtColor swap
then ``swapRB``); the network was trained by ultralytics on RGB and scores faces higher in RGB, so
frames go in as RGB (identical to upstream's ``detect`` handed an RGB array: tested).
By default a frame is padded only up to the network stride (ultralytics' "rect" inference: 320x192
for 16:9), not to a 320 square: the model is fully convolutional, scores stay within a few
hundredths of the square letterbox (tested) and a 16:9 frame costs 55% of the square's time.
Its 18 labels map to our categories:

- ``sexual``: genitalia or anus exposed;
- ``nudity``: any sexual body part exposed (breast, buttocks, genitalia, anus);
- ``suggestive``: the same parts covered;
- ``face``: female or male face (regions only: the stage can blur them).
Feet, belly, armpits and the male chest are detected but not scored.
"""

from __future__ import annotations

from importlib import resources

import cv2
import numpy as np

from classifiers.base import FACE, FrameScores, Region, check_frames, default_threads, onnx_session

LABELS = (
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED", "BELLY_COVERED",
    "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE", "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED",
)  # fmt: skip
EXPLICIT = frozenset({"FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED", "ANUS_EXPOSED"})
EXPOSED = EXPLICIT | {"FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED"}
COVERED = frozenset({"FEMALE_GENITALIA_COVERED", "FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED", "ANUS_COVERED"})
FACES = frozenset({"FACE_FEMALE", "FACE_MALE"})

INPUT_SIZE = 320
STRIDE = 32  # the network's largest stride: input sides must be multiples of it
CANDIDATE_SCORE = 0.2  # upstream's candidate cut-off before NMS
NMS_SCORE, NMS_IOU = 0.25, 0.45  # upstream's NMS settings


def _category_of(label: str) -> tuple[str, ...]:
    if label in EXPLICIT:
        return ("sexual", "nudity")
    if label in EXPOSED:
        return ("nudity",)
    if label in COVERED:
        return ("suggestive",)
    if label in FACES:
        return (FACE,)
    return ()


class NudeNetClassifier:
    """Body-part detector: exposed / covered sexual body parts and faces, with boxes."""

    name = "nudenet"
    version = "nudenet-3.4.2-320n"
    categories = ("sexual", "nudity", "suggestive", FACE)
    concurrent_calls = True  # ONNX Runtime sessions run concurrently; preprocessing is per call

    def __init__(self, model_path: str | None = None, threads: int | None = None, rect: bool = True) -> None:
        path = model_path or str(resources.files("nudenet").joinpath("320n.onnx"))
        self._session = onnx_session(path, threads or default_threads())
        self._input = self._session.get_inputs()[0].name
        self.rect = rect

    def classify(self, frames: np.ndarray) -> list[FrameScores]:
        frames = check_frames(frames)  # (N, H, W, 3) uint8
        if len(frames) == 0:
            return []
        height, width = frames.shape[1:3]
        side = max(height, width)
        scale = INPUT_SIZE / side
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        if self.rect:  # pad only up to the network stride: a 16:9 frame runs at 320x192, in 55% of the time
            pad_h, pad_w = -(-new_h // STRIDE) * STRIDE, -(-new_w // STRIDE) * STRIDE
        else:  # upstream's square letterbox
            pad_h = pad_w = INPUT_SIZE
        batch = np.zeros((len(frames), pad_h, pad_w, 3), np.uint8)  # (N, h, w, 3) letterboxed, h, w <= 320
        for i, frame in enumerate(frames):
            batch[i, :new_h, :new_w] = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        blob = batch.transpose(0, 3, 1, 2).astype(np.float32) / 255.0  # (N, 3, h, w) RGB in [0, 1]
        (output,) = self._session.run(None, {self._input: blob})  # (N, 4 + 18, anchors)
        return [self._frame_result(pred.T, side / INPUT_SIZE, width, height) for pred in output]

    @staticmethod
    def _frame_result(pred: np.ndarray, to_pixels: float, width: int, height: int) -> FrameScores:
        # pred: (anchors, 22) = centre x, centre y, w, h in model pixels, then 18 class scores
        class_scores = pred[:, 4:]  # (A, 18)
        best = class_scores.max(axis=1)  # (A,)
        keep = np.flatnonzero(best >= CANDIDATE_SCORE)
        scores: dict[str, float] = dict.fromkeys(NudeNetClassifier.categories, 0.0)
        if keep.size == 0:
            return FrameScores(scores)
        cx, cy, bw, bh = (pred[keep, k] * to_pixels for k in range(4))
        x = np.clip(cx - bw / 2, 0, width)
        y = np.clip(cy - bh / 2, 0, height)
        w = np.minimum(bw, width - x)
        h = np.minimum(bh, height - y)
        boxes = np.stack([x, y, w, h], axis=1)  # (K, 4) pixels
        label_ids = class_scores[keep].argmax(axis=1)
        kept_scores = best[keep]
        picked = cv2.dnn.NMSBoxes(boxes.tolist(), kept_scores.tolist(), NMS_SCORE, NMS_IOU)
        regions: list[Region] = []
        for i in np.asarray(picked, dtype=int).reshape(-1):
            label = LABELS[int(label_ids[i])]
            score = float(kept_scores[i])
            box = tuple(int(v) for v in boxes[i])
            for category in _category_of(label):
                scores[category] = max(scores[category], score)
                regions.append(Region(category, label, score, box))  # type: ignore[arg-type]
        return FrameScores(scores, tuple(regions))
