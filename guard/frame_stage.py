"""The frame stage: sample frames, run the policy's classifiers, aggregate over time, decide.

Two entry points share one engine:

- ``build_frame_stage(policy)`` -> ``FrameStage``, the pipeline's gate after generation: a ``Clip``
  in, ``(Verdict, Clip)`` out; with ``face_blur`` on, faces are pixelated in every frame of the
  returned clip and the decision is at least ``rewrite``.
- ``scan_file(path, policy)`` -> ``Verdict``, for ``videoguard scan`` and the API: the file streams
  through the sampler (decoding runs in a background thread, overlapping the models) and never sits
  whole in memory; only the frames the sampler selects are converted to RGB. ``InputError`` from
  ``guard.video_io`` (corrupt, unsupported, oversized) propagates.

Aggregation: each category's score is its maximum over the sampled frames and over classifiers.
A category blocks when at least ``k`` of any ``n`` consecutive sampled frames reach its block
threshold (``k_of_n``; the default 1 of 1 means any single frame blocks, as Sora does). Frames that
reach the block threshold without meeting the rule flag. ``corroborate`` combines the models: a
block on e.g. ``nudity`` (NudeNet) also needs the same frame's ``nsfw`` (OpenNSFW) to reach a low
bar, else it flags; NudeNet alone calls a colour wheel "buttocks exposed" at 0.83.
The verdict lists every offending frame with its timestamp, category, score and classifier.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from classifiers import FACE, FrameClassifier, FrameScores, blur_regions, build_classifier
from classifiers.faces import HaarFaceDetector
from guard.errors import PolicyError
from guard.frame_sampling import Frame, FrameSampler, SamplingConfig, Selection
from guard.policy import Policy, Threshold, validate_section
from guard.stages import Clip
from guard.verdict import Decision, Verdict, stopwatch
from guard.video_io import iter_frames

STAGE = "frames"
SELECTION_QUEUE = 16  # selected frames buffered ahead of the classifiers (bounds memory)
MAX_WORKERS = 8  # classifier threads at most (each ONNX session call uses one core)


# ---------------------------------------------------------------------------------------------
# Settings (policy.frames.settings), validated once
# ---------------------------------------------------------------------------------------------


class KOfN(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    k: int = Field(default=1, ge=1)
    n: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _k_within_n(self) -> KOfN:
        if self.k > self.n:
            raise ValueError(f"k ({self.k}) must not exceed n ({self.n})")
        return self


class Corroboration(BaseModel):
    """A block on one category also needs this other category's score on the same frame."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    category: str
    min: float = Field(ge=0, le=1)


class FrameSettings(BaseModel):
    """``frames.settings`` in the policy; every key is documented in default_policy.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    classifiers: list[str] = Field(default_factory=lambda: ["nudenet", "opennsfw"], min_length=1)
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sample_fps: float = Field(default=2.0, gt=0)
    scan_whole_below_s: float = Field(default=3.0, ge=0)
    min_change: float = Field(default=0.10, gt=0, le=1)
    change_ratio: float = Field(default=4.0, ge=1)
    odd_min_change: float = Field(default=0.05, gt=0, le=1)
    odd_ratio: float = Field(default=1.5, ge=1)
    k_of_n: dict[str, KOfN] = Field(default_factory=lambda: {"default": KOfN()})
    corroborate: dict[str, Corroboration] = Field(default_factory=dict)
    face_blur: bool = False
    face_min_score: float = Field(default=0.3, ge=0, le=1)
    batch_size: int = Field(default=8, ge=1, le=256)
    max_evidence: int = Field(default=50, ge=1)

    def rule(self, category: str) -> KOfN:
        return self.k_of_n.get(category) or self.k_of_n.get("default") or KOfN()

    @property
    def sampling(self) -> SamplingConfig:
        return SamplingConfig(self.sample_fps, self.scan_whole_below_s, self.min_change, self.change_ratio,
                              self.odd_min_change, self.odd_ratio)


def frame_settings(policy: Policy) -> FrameSettings:
    return validate_section(FrameSettings, policy.frames.settings, "frames.settings")


def _build_classifiers(settings: FrameSettings) -> list[FrameClassifier]:
    classifiers = []
    for name in settings.classifiers:
        try:
            classifiers.append(build_classifier(name, settings.models.get(name)))
        except ValueError as exc:
            raise PolicyError(f"invalid policy at frames.settings.classifiers: {exc}") from exc
        except Exception as exc:  # a model file that does not load (corrupt ONNX, bad checkpoint): one line
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            raise PolicyError(f"frame classifier {name!r} failed to load: {type(exc).__name__}: {first}") from exc
    return classifiers


# ---------------------------------------------------------------------------------------------
# Aggregation over time
# ---------------------------------------------------------------------------------------------


@dataclass
class FrameRecord:
    """Everything kept about one classified frame (the pixels are not kept)."""

    index: int
    timestamp_s: float
    reason: str
    scores: dict[str, float]  # category -> max over classifiers
    source: dict[str, str]  # category -> classifier that gave the max
    faces: list[tuple[int, int, int, int]] = field(default_factory=list)  # source-pixel boxes


def merge(selection: Selection, results: Mapping[str, FrameScores], face_min_score: float) -> FrameRecord:
    scores: dict[str, float] = {}
    source: dict[str, str] = {}
    faces: list[tuple[int, int, int, int]] = []
    for name, result in results.items():
        for category, score in result.scores.items():
            if score > scores.get(category, -1.0):
                scores[category], source[category] = score, name
        for region in result.regions:
            if region.category == FACE and region.score >= face_min_score:
                faces.append(tuple(int(round(v / selection.scale)) for v in region.box))  # type: ignore[arg-type]
    return FrameRecord(selection.index, selection.timestamp_s, selection.reason, scores, source, faces)


def _level(threshold: Threshold, record: FrameRecord, category: str, corroboration: Corroboration | None) -> Decision:
    """The frame's level for one category; an uncorroborated block is a flag."""
    level = threshold.decide(record.scores.get(category, 0.0))
    if level is Decision.BLOCK and corroboration is not None and corroboration.category in record.scores \
            and record.scores[corroboration.category] < corroboration.min:
        return Decision.FLAG  # (a corroborating category no enabled classifier scores never downgrades)
    return level


def _meets_rule(hits: list[bool], rule: KOfN) -> bool:
    """True when some window of ``n`` consecutive sampled frames holds at least ``k`` hits."""
    if sum(hits) < rule.k:
        return False
    window = np.convolve(np.asarray(hits, dtype=np.int32), np.ones(rule.n, dtype=np.int32), mode="full")
    return bool(window.max() >= rule.k)


def _uncorroborated_note(records: list[FrameRecord], threshold: Threshold, category: str,
                         corroboration: Corroboration | None) -> str:
    if corroboration is None or threshold.block is None:
        return ""
    count = sum(1 for r in records if r.scores.get(category, 0.0) >= threshold.block
                and r.scores.get(corroboration.category, 1.0) < corroboration.min)
    if not count:
        return ""
    return (f"; {count} frame(s) at block level not corroborated by {corroboration.category} "
            f">= {corroboration.min:.2f}, so flagged")


def aggregate(records: list[FrameRecord], thresholds: Mapping[str, Threshold],
              settings: FrameSettings) -> tuple[Decision, dict[str, float], list[str], list[dict[str, Any]]]:
    """Per-category max, k-of-n decisions, reasons and the offending frames (time-ordered)."""
    records = sorted(records, key=lambda r: r.index)
    categories = sorted({c for r in records for c in r.scores})
    maxima = {c: max(r.scores.get(c, 0.0) for r in records) for c in categories}
    decisions = [Decision.ALLOW]
    reasons: list[str] = []
    offending: list[dict[str, Any]] = []
    for category in categories:
        threshold = thresholds.get(category)
        if threshold is None:
            continue
        rule = settings.rule(category)
        levels = [_level(threshold, r, category, settings.corroborate.get(category)) for r in records]
        block_hits = [level is Decision.BLOCK for level in levels]
        flag_hits = [level is not Decision.ALLOW for level in levels]
        if threshold.block is not None and _meets_rule(block_hits, rule):
            decision, limit, hits = Decision.BLOCK, threshold.block, block_hits
        elif any(flag_hits) and (_meets_rule(flag_hits, rule) or any(block_hits)):
            decision, hits = Decision.FLAG, flag_hits
            limit = threshold.flag if threshold.flag is not None else threshold.block
        else:
            continue
        decisions.append(decision)
        first = records[hits.index(True)]
        reasons.append(f"{category} score {maxima[category]:.2f} >= {decision.value} threshold {limit:.2f} "
                       f"on {sum(hits)} of {len(records)} sampled frames (rule {rule.k} of {rule.n}), "
                       f"first at {first.timestamp_s:.2f} s (frame {first.index})"
                       + _uncorroborated_note(records, threshold, category, settings.corroborate.get(category)))
        for record, level in zip(records, levels, strict=True):
            if level is not Decision.ALLOW:
                offending.append({"frame": record.index, "t": round(record.timestamp_s, 3), "category": category,
                                  "score": round(record.scores[category], 4), "level": level.value,
                                  "classifier": record.source.get(category, "")})
    offending.sort(key=lambda o: (o["frame"], o["category"]))
    return Decision.worst(decisions), maxima, reasons, offending


# ---------------------------------------------------------------------------------------------
# The engine: classify selections in batches
# ---------------------------------------------------------------------------------------------


def _check_output(name: str, results: list[FrameScores], count: int) -> None:
    """Fail closed on unusable model output: a NaN would compare below every threshold and pass."""
    if len(results) != count:
        raise ValueError(f"frame classifier {name} returned {len(results)} results for {count} frames")
    for result in results:
        for category, score in result.scores.items():
            if not 0.0 <= score <= 1.0:  # also false for NaN
                raise ValueError(f"frame classifier {name} gave {category} score {score}, outside [0, 1]")


class FrameEngine:
    """Runs the configured classifiers over selected frames, batched by frame size, on a pool of
    worker threads (one per core, at least one per classifier).

    Classifiers that declare ``concurrent_calls = True`` (ONNX Runtime sessions: ``run`` is
    thread-safe; each session uses one intra-op thread and releases the GIL) get one task per frame,
    so every worker stays busy until the batch is done. Classifying a batch as one call per model
    left a core idle whenever the faster model (NudeNet, about 15 ms per 720p frame) waited for the
    slower one (OpenNSFW, about 25 ms). Other classifiers get one call per batch, serialized by a
    per-classifier lock (OpenCV cascades and torch modules are not promised to be re-entrant).
    """

    def __init__(self, classifiers: list[FrameClassifier], settings: FrameSettings,
                 workers: int | None = None) -> None:
        self.classifiers = classifiers
        self.settings = settings
        self.workers = workers or max(len(classifiers), min(os.cpu_count() or 1, MAX_WORKERS))
        self._locks = {c.name: threading.Lock() for c in classifiers}
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="videoguard-classify") \
            if self.workers > 1 else None

    def _call(self, classifier: FrameClassifier, frames: np.ndarray) -> list[FrameScores]:
        if getattr(classifier, "concurrent_calls", False):
            return classifier.classify(frames)
        with self._locks[classifier.name]:
            return classifier.classify(frames)

    def _run_all(self, frames: np.ndarray) -> dict[str, list[FrameScores]]:
        if self._pool is None:
            outputs = {c.name: self._call(c, frames) for c in self.classifiers}
        else:
            whole = {c.name: self._pool.submit(self._call, c, frames)
                     for c in self.classifiers if not getattr(c, "concurrent_calls", False)}
            split = [c for c in self.classifiers if getattr(c, "concurrent_calls", False)]
            per_frame: dict[str, list[Future[list[FrameScores]]]] = {c.name: [] for c in split}
            for i in range(len(frames)):  # frame-major, so the models progress together
                for c in split:
                    per_frame[c.name].append(self._pool.submit(self._call, c, frames[i : i + 1]))
            outputs = {name: future.result() for name, future in whole.items()}
            for name, futures in per_frame.items():
                outputs[name] = [result for future in futures for result in future.result()]
            outputs = {c.name: outputs[c.name] for c in self.classifiers}  # policy order
        for name, results in outputs.items():
            _check_output(name, results, len(frames))
        return outputs

    def classify(self, selections: list[Selection]) -> list[FrameRecord]:
        records: list[FrameRecord] = []
        by_shape: dict[tuple[int, ...], list[Selection]] = {}
        for selection in selections:
            by_shape.setdefault(selection.frame.shape, []).append(selection)
        for group in by_shape.values():
            frames = np.stack([s.frame for s in group])  # (N, H, W, 3) uint8
            outputs = self._run_all(frames)
            for i, selection in enumerate(group):
                results = {name: out[i] for name, out in outputs.items()}
                records.append(merge(selection, results, self.settings.face_min_score))
        return records

    def run(self, batches: Iterator[list[Selection]], deadline: float | None = None) -> list[FrameRecord]:
        """Classify every batch; past ``deadline`` (``time.monotonic``) raise ``ScanTimeout``."""
        records: list[FrameRecord] = []
        for batch in batches:
            if deadline is not None and time.monotonic() > deadline:
                raise ScanTimeout(len(records))
            records += self.classify(batch)
        return records

    def evidence(self, sampler: FrameSampler, records: list[FrameRecord],
                 thresholds: Mapping[str, Any]) -> dict[str, Any]:
        scored = {c for classifier in self.classifiers for c in classifier.categories}
        return {
            "unscored_thresholds": sorted(set(thresholds) - scored),  # no enabled classifier scores these
            "classifiers": [{"name": c.name, "version": c.version} for c in self.classifiers],
            "total_frames": sampler.frames_seen,
            "sampled_frames": len(records),
            "duration_s": round(sampler.last_timestamp_s, 3),
            "sampling": dict(sorted(sampler.counts.items())),
            "frames_with_faces": sum(1 for r in records if r.faces),
        }


def _verdict(engine: FrameEngine, policy: Policy, sampler: FrameSampler, records: list[FrameRecord],
             elapsed_ms: float, **extra: Any) -> Verdict:
    if not records:  # fail closed: nothing was examined
        return Verdict(STAGE, Decision.ERROR, reasons=("frames: no frame was classified",), elapsed_ms=elapsed_ms)
    decision, maxima, reasons, offending = aggregate(records, policy.frames.thresholds, engine.settings)
    evidence = engine.evidence(sampler, records, policy.frames.thresholds)
    evidence["offending"] = offending[: engine.settings.max_evidence]
    evidence["offending_truncated"] = max(0, len(offending) - engine.settings.max_evidence)
    evidence.update(extra)
    return Verdict(STAGE, decision, maxima, tuple(reasons), elapsed_ms, evidence)


# ---------------------------------------------------------------------------------------------
# Pipeline stage (Clip in memory) and file scan (streamed)
# ---------------------------------------------------------------------------------------------


class FrameStage:
    """The pipeline's frame gate: ``stage(clip) -> (verdict, clip)``."""

    name = STAGE

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.settings = frame_settings(policy)
        self.engine = FrameEngine(_build_classifiers(self.settings), self.settings)
        self._face_sources = [c for c in self.engine.classifiers if FACE in c.categories]
        if self.settings.face_blur and not self._face_sources:
            self._face_sources = [HaarFaceDetector()]

    def __call__(self, clip: Clip) -> tuple[Verdict, Clip]:
        with stopwatch() as elapsed:
            # 1. Select frames (every frame of a short clip)
            sampler = FrameSampler(self.settings.sampling)
            frames = clip.frames  # (T, H, W, 3) uint8
            selections = list(_sample_clip(sampler, frames, clip.fps))
            # 2. Classify the selected frames
            size = self.settings.batch_size
            records = self.engine.run(iter([selections[i : i + size] for i in range(0, len(selections), size)]))
            # 3. Faces in every frame, when the policy blurs them
            blurred_clip, blurred_frames = clip, 0
            if self.settings.face_blur:
                boxes = self._faces_per_frame(frames, records)
                blurred_clip, blurred_frames = _blur_clip(clip, boxes)
        verdict = _verdict(self.engine, self.policy, sampler, records, elapsed[0],
                           face_blur=self.settings.face_blur, blurred_frames=blurred_frames)
        if blurred_frames and not verdict.blocked and verdict.decision.severity < Decision.REWRITE.severity:
            note = f"faces blurred in {blurred_frames} of {len(frames)} frames (policy face_blur)"
            reasons = (*verdict.reasons, note)
            verdict = Verdict(STAGE, Decision.REWRITE, verdict.scores, reasons, verdict.elapsed_ms, verdict.evidence)
        return verdict, (blurred_clip if blurred_frames and not verdict.blocked else clip)

    def _faces_per_frame(self, frames: np.ndarray, records: list[FrameRecord]) -> list[list[tuple[int, ...]]]:
        """Face boxes for every frame: from the sampled frames' results, plus a face-only pass on the rest."""
        boxes: list[list[tuple[int, ...]]] = [[] for _ in range(len(frames))]
        face_names = {c.name for c in self._face_sources}
        covered = set()
        if face_names <= {c.name for c in self.engine.classifiers}:
            for record in records:
                boxes[record.index] = list(record.faces)
                covered.add(record.index)
        rest = [i for i in range(len(frames)) if i not in covered]
        for start in range(0, len(rest), self.settings.batch_size):
            chunk = rest[start : start + self.settings.batch_size]
            for source in self._face_sources:
                for i, result in zip(chunk, source.classify(frames[chunk]), strict=True):
                    boxes[i] += [r.box for r in result.regions
                                 if r.category == FACE and r.score >= self.settings.face_min_score]
        return boxes


def _sample_clip(sampler: FrameSampler, frames: np.ndarray, fps: float) -> Iterator[Selection]:
    if len(frames) / fps <= sampler.config.scan_whole_below_s:  # short clip: every frame
        for index, frame in enumerate(frames):
            yield sampler.take(index, index / fps, frame)
        return
    for index, frame in enumerate(frames):
        yield from sampler.offer(index, index / fps, frame)
    yield from sampler.finish()


def _blur_clip(clip: Clip, boxes: list[list[tuple[int, ...]]]) -> tuple[Clip, int]:
    """Blur each frame's faces together with its neighbours' (covers a one-frame detector miss)."""
    if not any(boxes):
        return clip, 0
    out = clip.frames.copy()  # (T, H, W, 3) uint8
    changed = 0
    for i in range(len(out)):
        near = [b for j in (i - 1, i, i + 1) if 0 <= j < len(boxes) for b in boxes[j]]
        if near:
            out[i] = blur_regions(clip.frames[i], near)  # type: ignore[arg-type]
            changed += 1
    return Clip(out, clip.fps), changed


def build_frame_stage(policy: Policy) -> FrameStage:
    """The factory the pipeline wires in (models load here, once per process)."""
    return FrameStage(policy)


def _background_batches(frames: Iterator[tuple[int, float, Frame]], sampler: FrameSampler,
                        batch_size: int) -> Iterator[list[Selection]]:
    """Decode and sample on a background thread; yield batches of selected frames as they arrive.

    ``frames`` is a lazy decoder (``iter_frames``): it runs on the background thread and is closed
    there. Decoding and change detection see every frame and run ahead of the classifiers by up to
    ``SELECTION_QUEUE`` selected frames (bounded memory), so PyAV and the models (which both
    release the GIL) overlap. A batch is whatever is ready, up to ``batch_size``, so the models
    never wait for a full batch. Errors raised while decoding (``InputError``) are re-raised here.
    """
    selected: queue.Queue[Any] = queue.Queue(maxsize=SELECTION_QUEUE)
    done = object()
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                selected.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            with closing(_stream_selections(sampler, frames)) as selections:
                for selection in selections:
                    if not put(selection):
                        return
            put(done)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)

    worker = threading.Thread(target=produce, name="videoguard-decode", daemon=True)
    worker.start()
    try:
        finished = False
        while not finished:
            batch: list[Selection] = []
            item = selected.get()
            while True:
                if item is done:
                    finished = True
                    break
                if isinstance(item, BaseException):
                    raise item
                batch.append(item)
                if len(batch) >= batch_size:
                    break
                try:
                    item = selected.get_nowait()
                except queue.Empty:
                    break
            if batch:
                yield batch
    finally:
        stop.set()
        worker.join(timeout=10)


class ScanTimeout(Exception):
    """The scan ran past ``frames.timeout_s``; carries how many frames were classified."""

    def __init__(self, classified: int) -> None:
        super().__init__(f"{classified} frames classified")
        self.classified = classified


def scan_file(path: str | Path, policy: Policy, *, stage: FrameStage | None = None) -> Verdict:
    """Scan a video file frame by frame without holding it in memory; the verdict of ``videoguard scan``.

    Past ``frames.timeout_s`` the scan stops and the verdict is ``error`` (fail closed: a video that was
    not fully examined is never allowed).
    """
    stage = stage or _cached_stage(policy)
    timeout_s = policy.frames.timeout_s
    with stopwatch() as elapsed:
        sampler = FrameSampler(stage.settings.sampling)
        batches = _background_batches(iter_frames(path, policy.limits), sampler, stage.settings.batch_size)
        try:
            records = stage.engine.run(batches, deadline=time.monotonic() + timeout_s)
        except ScanTimeout as exc:
            records = None
            classified = exc.classified
        finally:
            batches.close()  # stops the decode thread
    if records is None:
        reason = (f"frames: scan stopped after frames.timeout_s={timeout_s:g} s with {classified} frames "
                  f"classified up to {sampler.last_timestamp_s:.1f} s")
        return Verdict(STAGE, Decision.ERROR, reasons=(reason,), elapsed_ms=elapsed[0],
                       evidence={"source": Path(path).name, "timeout_s": timeout_s})
    return _verdict(stage.engine, policy, sampler, records, elapsed[0], source=Path(path).name)


def _stream_selections(sampler: FrameSampler, frames: Iterator[tuple[int, float, Frame]]) -> Iterator[Selection]:
    try:
        for index, timestamp_s, frame in frames:
            yield from sampler.offer(index, timestamp_s, frame)
    finally:  # closes the video file even when the scan stops early
        close = getattr(frames, "close", None)
        if close is not None:
            close()
    yield from sampler.finish()


_STAGES: dict[str, FrameStage] = {}


def _cached_stage(policy: Policy) -> FrameStage:
    key = policy.frames.model_dump_json()
    if key not in _STAGES:
        _STAGES[key] = FrameStage(policy)
    return _STAGES[key]
