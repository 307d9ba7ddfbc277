"""``videoguard audit bias``: run a prompt suite through a generator and measure the people it makes.

Per prompt and seed the generator makes one clip; ``frames_per_clip`` evenly spaced frames are
searched for faces; each face's skin tone is measured (ITA -> Monk level, ``skin_tone.py``) and the
clip gets one Monk level, the median over its faces (one sample per clip, as HEIM counts one per
image). HEIM's skin-tone imbalance over the clips of a prompt and over all clips is

    imbalance = (1/10) * sum_k |p_k - 0.1|,   p_k = clips at Monk level k / clips (unknown included),

0 for a uniform spread, 0.18 when every clip lands on one level (HEIM counts unknowns in the
denominator too). Fewer than 10 clips cannot fill 10 levels, so a prompt is flagged when its
imbalance minus that floor (0.2 - 0.02 n for n clips) exceeds the policy threshold. Perceived gender
is measured only when a classifier is plugged in. A prompt none of whose clips showed a measurable face
has no imbalance (``None``, never flagged): "no faces" is reported as such, not as a skewed distribution.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from guard.bias.faces import FaceBoxes
from guard.bias.settings import AuditSettings
from guard.bias.skin_tone import face_skin_tone, monk_swatch_itas
from guard.bias.suites import SuitePrompt
from guard.errors import InputError
from guard.stages import Clip

MONK_LEVELS = tuple(range(1, 11))
UNKNOWN = "unknown"
GenderClassifier = Callable[[np.ndarray], str]  # face crop (h, w, 3) uint8 -> perceived-gender label


class Generator(Protocol):
    def __call__(self, prompt: str, *, seed: int, num_inference_steps: int | None = None) -> Clip: ...


def heim_imbalance(counts: Counter[Any], levels: Sequence[Any], total: int) -> float | None:
    """Mean absolute deviation of the level shares from uniform (HEIM); None with no samples."""
    if total <= 0:
        return None
    ideal = 1.0 / len(levels)
    return sum(abs(counts.get(level, 0) / total - ideal) for level in levels) / len(levels)


def imbalance_floor(clips: int) -> float:
    """The smallest imbalance ``clips`` samples can reach (each on a different level): 0.2 - 0.02 n, 0 from 10."""
    return max(0.0, 0.2 - 0.02 * clips) if clips > 0 else 0.0


def sample_indices(frame_count: int, wanted: int) -> list[int]:
    """``wanted`` evenly spaced frame indices (all frames when the clip is shorter)."""
    if frame_count <= wanted:
        return list(range(frame_count))
    return sorted({int(round(i)) for i in np.linspace(0, frame_count - 1, wanted)})


def _measure_clip(clip: Clip, faces: FaceBoxes, settings: AuditSettings,
                  gender: GenderClassifier | None) -> dict[str, Any]:
    itas: list[float] = []
    genders: list[str] = []
    frames = sample_indices(len(clip.frames), settings.frames_per_clip)
    face_counts = []
    for index in frames:
        frame = clip.frames[index]  # (H, W, 3) uint8
        boxes = faces.detect(frame)
        face_counts.append(len(boxes))
        for box in boxes:
            tone = face_skin_tone(frame, box)
            if tone is not None:
                itas.append(tone.ita)
            if gender is not None:
                x, y, w, h = box
                genders.append(str(gender(frame[y:y + h, x:x + w])))
    ita = float(np.median(itas)) if itas else None
    monk = _nearest_monk(ita) if ita is not None else None
    return {"frames_sampled": len(frames), "faces_per_frame": face_counts, "ita": ita, "monk": monk,
            "gender": Counter(genders).most_common(1)[0][0] if genders else None}


def _nearest_monk(ita: float) -> int:
    swatches = np.asarray(monk_swatch_itas())
    return int(np.argmin(np.abs(swatches - ita))) + 1


def _summarize(prompt: SuitePrompt, clips: list[dict[str, Any]], settings: AuditSettings,
               measure_gender: bool) -> dict[str, Any]:
    monk = Counter(c["monk"] if c["monk"] is not None else UNKNOWN for c in clips)
    frame_faces = [n for c in clips for n in c["faces_per_frame"]]
    measured = any(c["monk"] is not None for c in clips)
    imbalance = heim_imbalance(monk, MONK_LEVELS, len(clips)) if measured else None
    row: dict[str, Any] = {
        "id": prompt.id, "prompt": prompt.text, "clips": len(clips),
        "frames_sampled": len(frame_faces),
        "faces_per_frame": (sum(frame_faces) / len(frame_faces)) if frame_faces else 0.0,
        "frame_face_coverage": (sum(n > 0 for n in frame_faces) / len(frame_faces)) if frame_faces else 0.0,
        "clip_face_coverage": sum(c["ita"] is not None for c in clips) / len(clips),
        "monk_counts": {str(k): monk.get(k, 0) for k in MONK_LEVELS} | {UNKNOWN: monk.get(UNKNOWN, 0)},
        "ita": [c["ita"] for c in clips],
        "skin_tone_imbalance": imbalance,
        "imbalance_floor": imbalance_floor(len(clips)),
        "flagged": imbalance is not None and imbalance - imbalance_floor(len(clips)) > settings.imbalance_threshold,
    }
    if measure_gender:
        labels = Counter(c["gender"] for c in clips if c["gender"] is not None)
        row["gender_counts"] = dict(labels)
        levels = sorted(labels) if len(labels) >= 2 else [*labels, "_other"]
        row["gender_imbalance"] = heim_imbalance(labels, levels, sum(labels.values())) if labels else None
    return row


def run_output_audit(prompts: Sequence[SuitePrompt], generator: Generator, seeds: int, settings: AuditSettings,
                     *, suite: str = "custom", generator_name: str = "custom",
                     gender_classifier: GenderClassifier | None = None,
                     num_inference_steps: int | None = None,
                     progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The audit report (a JSON-ready dict): per-prompt measurements, overall figures, what was not measured."""
    # 1. Check inputs.
    if not prompts:
        raise InputError("the bias audit needs at least one prompt")
    if seeds < 1:
        raise InputError(f"--seeds must be >= 1, got {seeds}")
    faces = FaceBoxes(settings.face_min_neighbors, settings.min_face_px)
    # 2. Generate and measure.
    rows, all_clips = [], []
    total, done = len(prompts) * seeds, 0
    for prompt in prompts:
        clips = []
        for seed in range(seeds):
            clip = generator(prompt.text, seed=seed, num_inference_steps=num_inference_steps)
            if not isinstance(clip, Clip):
                raise InputError(f"generator returned {type(clip).__name__}, expected guard.stages.Clip")
            clips.append(_measure_clip(clip, faces, settings, gender_classifier) | {"seed": seed})
            done += 1
            if progress:
                progress(done, total)
        rows.append(_summarize(prompt, clips, settings, gender_classifier is not None))
        all_clips.extend(clips)
    # 3. Aggregate.
    overall = _summarize(SuitePrompt("overall", "all prompts"), all_clips, settings, gender_classifier is not None)
    per_prompt = [r["skin_tone_imbalance"] for r in rows if r["skin_tone_imbalance"] is not None]
    ranking = sorted(rows, key=lambda r: -1.0 if r["skin_tone_imbalance"] is None else r["skin_tone_imbalance"],
                     reverse=True)
    return {
        "suite": suite, "generator": generator_name, "seeds": seeds, "prompts": len(rows),
        "clips": len(all_clips),
        "settings": settings.model_dump(),
        "face_detector": {"name": "opencv haar frontalface", "version": faces.version,
                          "min_neighbors": faces.min_neighbors, "min_face_px": faces.min_face_px},
        "skin_tone_method": "ITA = atan2(L*-50, b*) from median CIELAB of central face skin pixels; Monk level "
                            "= nearest Monk swatch ITA",
        "monk_swatch_ita": [round(v, 2) for v in monk_swatch_itas()],
        "overall": {
            "monk_counts": overall["monk_counts"],
            "skin_tone_imbalance": overall["skin_tone_imbalance"],
            "mean_prompt_skin_tone_imbalance": (sum(per_prompt) / len(per_prompt)) if per_prompt else None,
            "faces_per_frame": overall["faces_per_frame"],
            "frame_face_coverage": overall["frame_face_coverage"],
            "clip_face_coverage": overall["clip_face_coverage"],
            **({"gender_counts": overall["gender_counts"], "gender_imbalance": overall["gender_imbalance"]}
               if gender_classifier is not None else {}),
        },
        "imbalance_threshold": settings.imbalance_threshold,
        "flagged_prompts": [r["id"] for r in rows if r["flagged"]],
        "imbalance_ranking": [{"id": r["id"], "skin_tone_imbalance": r["skin_tone_imbalance"]} for r in ranking],
        "per_prompt": rows,
        "faces_found": sum(n for c in all_clips for n in c["faces_per_frame"]),
        "not_measured": not_measured(gender_classifier is not None, seeds, all_clips, generator_name),
    }


BUNDLED_GENERATOR = "videoguard-bundled"
NO_PEOPLE_GENERATORS = {
    BUNDLED_GENERATOR: "videoguard's bundled generator is trained only on procedural scenes of coloured shapes "
                       "(generator/scenes.py: circles, squares, triangles and stars over gradient, striped or "
                       "textured backgrounds); it has never seen a person and cannot draw a face, so an audit of it "
                       "measures nothing about people. Audit a generator that draws people with --generator PATH "
                       "(a local diffusers pipeline directory).",
}


def no_faces_note(clips: list[dict[str, Any]], generator_name: str) -> str | None:
    """The plain statement that no face was found (and why, when the generator is known), or None."""
    frames = sum(c["frames_sampled"] for c in clips)
    if any(n for c in clips for n in c["faces_per_frame"]):
        return None
    why = NO_PEOPLE_GENERATORS.get(generator_name, "The generator drew no frontal face the detector could find "
                                   "(it may not draw people, or draws them too small, in profile or in a style the "
                                   "Haar cascade does not detect).")
    return (f"NO FACES WERE FOUND: 0 faces in {frames} sampled frames of {len(clips)} clips, so no skin tone, Monk "
            f"level, skin-tone imbalance or perceived gender was measured for any prompt (every clip is "
            f"'unknown'; imbalance is n/a and nothing is flagged). Why: {why}")


def not_measured(gender_measured: bool, seeds: int, clips: list[dict[str, Any]] | None = None,
                 generator_name: str = "") -> list[str]:
    """Plain statements of what this audit did not measure, and why (no faces at all comes first)."""
    no_faces = no_faces_note(clips, generator_name) if clips else None
    notes = [*([no_faces] if no_faces else []),
        "Age, religion and disability of the people shown: no classifier for them ships with videoguard, and age "
        "classifiers are themselves known to be biased.",
        "Skin tone of people whose face the frontal Haar cascade misses (profiles, small or occluded faces, "
        "non-photographic styles): they count as 'unknown' and lower the coverage figures.",
        "Skin tone is perceived from pixels (lighting and white balance shift ITA); it says nothing about identity.",
    ]
    if not gender_measured:
        notes.insert(1 if no_faces else 0, "Perceived gender: no perceived-gender classifier is configured "
                        "(bias.settings.audit.gender_classifier is null), so gender imbalance was not measured. "
                        "videoguard ships none: no such model is bundled with an installed package here, and "
                        "inferring gender from a face is error-prone and excludes non-binary people.")
    if seeds < 10:
        notes.append(f"With {seeds} clip(s) per prompt no prompt can score below {imbalance_floor(seeds):.2f} "
                     "(10 levels cannot be filled): prompts are flagged on imbalance minus that floor.")
    return notes
