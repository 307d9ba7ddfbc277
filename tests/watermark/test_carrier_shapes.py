"""Carrier shapes (format versions): v1 Manchester, the v2 doublet and the v3 pulse, embedded and read by the same
detector."""

from __future__ import annotations

import numpy as np
import pytest

import watermark
from tests.watermark.test_reinforce import release_encode
from tests.watermark.test_watermark import PAYLOAD, camera_move, generated_like, h264
from watermark.embedder import GAIN_MAX, LUMA_WEIGHTS
from watermark.layout import DOUBLET_MIN_FPS, carrier, default_shape

FPS = 24.0


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return camera_move()  # (48, 256, 256, 3)


@pytest.fixture(scope="module")
def marked(clip: np.ndarray) -> dict[str, np.ndarray]:
    return {shape: watermark.embed(clip, PAYLOAD, fps=FPS, carrier_shape=shape) for shape in watermark.CARRIER_SHAPES}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_when_the_doublet_carrier_is_built_then_each_second_holds_one_keyed_sign_flip_and_four_empty_slots() -> None:
    seq = carrier(72, FPS, shape="doublet").reshape(3, 24)  # three seconds at 24 fps: 6 slots of 4 frames
    assert set(np.unique(seq)) <= {-1.0, 0.0, 1.0}
    for second in seq:
        assert np.all(second[:4] == second[0]) and np.all(second[4:8] == -second[0]) and second[0] != 0
        assert np.all(second[8:] == 0)
    assert len({float(s[0]) for s in carrier(24 * 20, FPS, shape="doublet").reshape(20, 24)}) == 2  # keyed signs


def test_when_the_pulse_carrier_is_built_then_each_second_holds_one_keyed_pair_of_opposite_frames() -> None:
    for fps in (24.0, 30.0, 12.0):
        count = int(fps) * 20
        seq = carrier(count, fps, shape="pulse").reshape(20, int(fps))  # twenty seconds
        assert set(np.unique(seq)) <= {-1.0, 0.0, 1.0}
        assert np.all(seq[:, 0] != 0) and np.all(seq[:, 1] == -seq[:, 0]) and np.all(seq[:, 2:] == 0)
        assert len({float(s) for s in seq[:, 0]}) == 2  # keyed signs, not one fixed polarity
    odd = carrier(90, 29.97, shape="pulse")  # a non-integer rate: still two marked frames in every second
    assert np.count_nonzero(odd) == 6 and odd.sum() == 0


def test_when_no_shape_is_given_then_format_v2_draws_the_doublet_from_12_fps_and_manchester_below(
        clip: np.ndarray, marked: dict[str, np.ndarray]) -> None:
    assert default_shape(24.0) == default_shape(DOUBLET_MIN_FPS) == "doublet" and default_shape(8.0) == "manchester"
    assert default_shape(24.0, "v3") == "pulse" and default_shape(24.0, "v1") == "manchester"
    assert watermark.ALGORITHM == "io.videoguard.wm.v2"
    assert np.array_equal(watermark.embed(clip, PAYLOAD, fps=FPS), marked["doublet"])
    with pytest.raises(ValueError, match="format"):
        default_shape(24.0, "v9")
    low = clip[:17, ::2, ::2]
    assert np.array_equal(watermark.embed(low, PAYLOAD, fps=8.0),
                          watermark.embed(low, PAYLOAD, fps=8.0, carrier_shape="manchester"))


def test_when_the_carrier_shape_is_unknown_then_embed_and_detect_raise(clip: np.ndarray) -> None:
    with pytest.raises(ValueError, match="carrier shape"):
        watermark.embed(clip[:4], PAYLOAD, fps=FPS, carrier_shape="sine")
    with pytest.raises(ValueError, match="carrier_shapes"):
        watermark.detect(clip[:4], fps=FPS, carrier_shapes=("sine",))


def test_when_any_version_is_embedded_then_the_psnr_budget_is_the_same(clip: np.ndarray,
                                                                       marked: dict[str, np.ndarray]) -> None:
    """The embedder spends the budget only on the frames the carrier marks (duty 1/3 for the doublet, 1/12 for the
    pulse at 24 fps)."""
    v1, v2, v3 = (psnr(marked[shape], clip) for shape in ("manchester", "doublet", "pulse"))
    assert min(v1, v2, v3) >= 42.0 and abs(v1 - v2) < 0.5 and abs(v1 - v3) < 1.0


@pytest.mark.parametrize("shape", ["doublet", "pulse"])
def test_when_a_sparse_carrier_is_embedded_then_frames_in_its_empty_slots_are_untouched(
        clip: np.ndarray, marked: dict[str, np.ndarray], shape: str) -> None:
    empty = carrier(len(clip), FPS, shape=shape) == 0
    assert np.array_equal(marked[shape][empty], clip[empty])
    assert not np.array_equal(marked[shape][~empty][0], clip[~empty][0])


def test_when_the_doublet_is_embedded_then_frame_steps_stay_within_its_duty_scaled_peak(
        clip: np.ndarray, marked: dict[str, np.ndarray]) -> None:
    """The doublet's sign flip is its largest step: twice the peak, the peak sqrt(3) x v1's (same energy)."""
    # luma steps: where a channel is saturated the embedder spreads the luma change over the others (larger there)
    steps = {shape: float(np.abs(np.diff((m.astype(np.float32) - clip) @ LUMA_WEIGHTS, axis=0)).max())
             for shape, m in marked.items()}
    assert steps["doublet"] <= 2 * GAIN_MAX * watermark.DEFAULT_STRENGTH * np.sqrt(3.0) + 1
    assert steps["pulse"] <= 2 * GAIN_MAX * watermark.DEFAULT_STRENGTH * np.sqrt(FPS / 2) + 1
    # the cost of the v2 and v3 carriers, stated in RESULTS.md
    assert steps["pulse"] > steps["doublet"] > steps["manchester"]


@pytest.mark.parametrize("shape", ["pulse", "doublet", "manchester"])
@pytest.mark.parametrize("with_fps", [True, False])
def test_when_any_version_is_read_by_the_default_detector_then_the_payload_comes_back(
        marked: dict[str, np.ndarray], shape: str, with_fps: bool) -> None:
    found = watermark.detect(marked[shape], fps=FPS if with_fps else None)
    assert found.marked and found.payload == PAYLOAD and found.p_value < 1e-12


def test_when_only_one_shape_is_read_then_the_bonferroni_factor_is_smaller(marked: dict[str, np.ndarray]) -> None:
    """Reading all three versions' keyed carriers costs two more candidates in the p-value (6 instead of 4)."""
    every = watermark.detect(marked["doublet"][:24], fps=FPS)
    one = watermark.detect(marked["doublet"][:24], fps=FPS, carrier_shapes=("doublet",))
    assert every.details["p_pilot"] == pytest.approx(one.details["p_pilot"] * 6 / 4, rel=1e-9)


@pytest.mark.parametrize("shape", ["pulse", "doublet"])
def test_when_a_v2_or_v3_clip_is_h264_crf30_encoded_then_the_payload_comes_back(marked: dict[str, np.ndarray],
                                                                                shape: str) -> None:
    found = watermark.detect(h264(marked[shape], 30), fps=FPS)
    assert found.payload == PAYLOAD


@pytest.mark.slow
def test_when_clips_are_h264_crf40_encoded_then_the_pulse_reads_stronger_than_the_doublet_and_manchester() -> None:
    """The reason for v2 and v3 (benchmarks/RESULTS.md: 8 clips, detection 0.25 -> 0.75 -> 0.88): summed pilot z
    over 3 clips."""
    z = {shape: 0.0 for shape in watermark.CARRIER_SHAPES}
    for image in ("astronaut", "coffee", "rocket"):
        clip = camera_move(image=image)
        for shape in z:
            found = watermark.detect(h264(watermark.embed(clip, PAYLOAD, fps=FPS, carrier_shape=shape), 40), fps=FPS)
            z[shape] += abs(found.details["pilot_z"])
    assert z["pulse"] > z["doublet"] > z["manchester"]


@pytest.mark.parametrize("seed", [0, 1])
def test_when_a_generated_like_doublet_clip_is_released_at_8_fps_then_it_reads_back_with_the_frame_rate(
        seed: int) -> None:
    """The bundled generator's case, with the doublet forced (format v2 draws Manchester at 8 fps): 17 frames, a
    1/6 s slot is 1.3 frames, the release's CRF 18 encode."""
    frames = generated_like(seed)
    received = release_encode(watermark.embed(frames, PAYLOAD, fps=8.0, carrier_shape="doublet"))
    found = watermark.detect(received.frames, fps=received.fps)
    assert found.payload == PAYLOAD


@pytest.mark.parametrize(("fps", "strength"), [(60.0, 3.3), (120.0, 2.625)])
def test_when_a_still_picture_takes_a_strong_pulse_then_its_steps_are_no_cuts_and_the_payload_comes_back(
        fps: float, strength: float) -> None:
    from watermark.detector import analysis_luma, shots

    rng = np.random.default_rng(8)
    still = np.clip(128 + rng.normal(0, 20, (96, 96, 1)), 0, 255).astype(np.uint8).repeat(3, axis=2)
    clip = np.repeat(still[None], int(2 * fps) + 4, axis=0)  # the guard's escalated strengths at high frame rates
    marked = watermark.embed(clip, PAYLOAD, fps=fps, strength=strength)  # pulse steps of 25-28 levels on average
    assert len(shots(analysis_luma(marked))) == 1
    found = watermark.detect(marked, fps=fps)
    assert found.marked and found.payload == PAYLOAD
    flash = marked.copy()
    flash[int(fps) // 2] = 255  # a real one-frame flash is still cut off
    assert len(shots(analysis_luma(flash))) == 3
