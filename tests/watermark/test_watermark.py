"""The pure watermark package: round trip, codec + resize survival, p-values on unmarked video, quality, errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

import watermark
from guard.sample import photo_pan
from guard.stages import Clip
from guard.video_io import read_video, write_mp4
from watermark.code import MESSAGE_BITS, conv_encode, keyed_crc, viterbi_decode
from watermark.detector import _step_motion, signed_rank_p
from watermark.embedder import GAIN_MAX, LUMA_WEIGHTS, gain_maps
from watermark.layout import carrier

PAYLOAD = bytes.fromhex("0123456789abcdef")
FPS = 24.0


def camera_move(frames: int = 48, size: int = 256, image: str = "astronaut") -> np.ndarray:
    """A camera pan plus slow zoom over a scikit-image photograph (sub-pixel motion, as real footage has)."""
    from skimage import data

    photo = np.ascontiguousarray(getattr(data, image)()[..., :3])
    side0, cx0, cy0 = 0.6 * min(photo.shape[:2]), 0.45 * photo.shape[1], 0.5 * photo.shape[0]
    out = np.empty((frames, size, size, 3), np.uint8)
    for t in range(frames):
        side = side0 * (1 + 0.15 * t / frames)
        scale = size / side
        cx, cy = cx0 + 0.25 * side0 * t / frames, cy0 - 0.1 * side0 * t / frames
        matrix = np.array([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy]], np.float32)
        out[t] = cv2.warpAffine(photo, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return camera_move()  # (48, 256, 256, 3) uint8


@pytest.fixture(scope="module")
def marked(clip: np.ndarray) -> np.ndarray:
    return watermark.embed(clip, PAYLOAD, fps=FPS)


def h264(frames: np.ndarray, crf: int) -> np.ndarray:
    """Encode with the project's own H.264 writer (yuv420p) and decode again."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        write_mp4(Clip(frames, FPS), path, crf=crf, preset="fast")
        return read_video(path).frames


def test_when_marked_clip_is_untouched_then_payload_is_recovered_with_tiny_p(marked: np.ndarray) -> None:
    found = watermark.detect(marked)
    assert found.payload == PAYLOAD
    assert found.marked and found.p_value < 1e-12
    assert found.bit_confidence.shape == (64,) and float(found.bit_confidence.min()) > 0.9


def test_when_marked_clip_is_resized_and_h264_crf30_encoded_then_payload_is_recovered() -> None:
    # chelsea: pilot z ~7 after this attack, a safe margin. The astronaut move sits at the edge (z 4-6.6 with
    # x264's run-to-run variation), which benchmarks/RESULTS.md reports as a weakness.
    marked = watermark.embed(camera_move(image="chelsea"), PAYLOAD, fps=FPS)
    small = np.stack([cv2.resize(f, (182, 182), interpolation=cv2.INTER_AREA) for f in marked])  # 0.71 per side
    found = watermark.detect(h264(small, crf=30))
    assert found.payload == PAYLOAD
    assert found.p_value < 1e-6


def test_when_marked_clip_is_cropped_then_payload_is_recovered(marked: np.ndarray) -> None:
    found = watermark.detect(np.ascontiguousarray(marked[:, 30:246, 12:228]))  # 216x216: 71% of the area
    assert found.payload == PAYLOAD


def test_when_one_second_is_cut_out_then_payload_is_recovered_from_the_rest(marked: np.ndarray) -> None:
    spliced = np.concatenate([marked[:10], marked[34:]])  # 24 frames removed from the middle
    assert watermark.detect(spliced).payload == PAYLOAD


@pytest.mark.parametrize("image", ["astronaut", "coffee", "chelsea", "rocket"])
def test_when_clip_is_unmarked_then_p_value_is_far_above_threshold(image: str) -> None:
    found = watermark.detect(photo_pan(frames=24, size=160, image=image))
    assert found.p_value > 1e-3
    assert not found.marked and found.payload is None


def test_when_clip_is_static_noise_then_it_is_not_marked() -> None:
    noise = np.random.default_rng(3).integers(0, 256, (24, 96, 96, 3), dtype=np.uint8)
    assert watermark.detect(noise).p_value > 1e-3


def test_when_marked_then_psnr_is_at_least_42_db(clip: np.ndarray, marked: np.ndarray) -> None:
    mse = np.mean((marked.astype(np.float64) - clip) ** 2)
    assert 10 * np.log10(255**2 / mse) >= 42.0


def test_when_marked_then_consecutive_frames_change_by_at_most_twice_the_peak_offset(clip: np.ndarray,
                                                                                    marked: np.ndarray) -> None:
    """No flicker beyond the mark's own budget: the added offset changes by < 2 x the masked peak between frames
    (the peak grows as 1 / sqrt(duty) of the carrier: the same energy in fewer frames)."""
    # in luma: where a channel is saturated the embedder spreads the luma change over the others (larger there)
    delta = (marked.astype(np.float32) - clip) @ LUMA_WEIGHTS  # (T, H, W)
    step = np.abs(np.diff(delta, axis=0)).max()
    duty = float(np.mean(carrier(len(clip), FPS) ** 2))
    assert step <= 2 * GAIN_MAX * watermark.DEFAULT_STRENGTH / np.sqrt(duty) + 1


@pytest.mark.parametrize("shape", [(4, 40, 256, 3), (4, 256, 63, 3)])
def test_when_frame_is_too_small_then_embed_raises(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="too small to watermark"):
        watermark.embed(np.zeros(shape, np.uint8), PAYLOAD)


@pytest.mark.parametrize("frames", [np.zeros((4, 64, 64), np.uint8), np.zeros((4, 64, 64, 3), np.float32),
                                    np.zeros((0, 64, 64, 3), np.uint8)])
def test_when_frames_are_malformed_then_embed_and_detect_raise(frames: np.ndarray) -> None:
    with pytest.raises(ValueError, match="frame"):
        watermark.embed(frames, PAYLOAD)
    with pytest.raises(ValueError, match="frame"):
        watermark.detect(frames)


@pytest.mark.parametrize("payload", [b"", b"short", bytes(9), "01234567"])
def test_when_payload_is_not_8_bytes_then_embed_raises(payload: object) -> None:
    with pytest.raises(ValueError, match="payload must be 8 bytes"):
        watermark.embed(np.zeros((2, 96, 96, 3), np.uint8), payload)  # type: ignore[arg-type]


def test_when_coded_bits_are_noisy_and_partly_erased_then_viterbi_recovers_the_message() -> None:
    rng = np.random.default_rng(0)
    message = rng.integers(0, 2, MESSAGE_BITS).astype(np.uint8)
    soft = (1.0 - 2.0 * conv_encode(message)) + rng.normal(0, 0.5, conv_encode(message).size)
    soft[rng.random(soft.size) < 0.2] = 0.0  # erasures, as a crop leaves
    assert np.array_equal(viterbi_decode(soft), message)


@pytest.mark.parametrize("flip", [0, 17, 63])
def test_when_one_payload_bit_differs_then_the_keyed_crc_differs(flip: int) -> None:
    bits = np.random.default_rng(1).integers(0, 2, 64).astype(np.uint8)
    other = bits.copy()
    other[flip] ^= 1
    assert not np.array_equal(keyed_crc(bits, b"k"), keyed_crc(other, b"k"))
    assert not np.array_equal(keyed_crc(bits, b"k"), keyed_crc(bits, b"other key"))


def test_when_only_the_first_second_is_read_then_payload_is_still_recovered(marked: np.ndarray) -> None:
    found = watermark.detect(marked, max_frames=24)
    assert found.payload == PAYLOAD and found.details["frames"] == 24.0


def test_when_max_frames_is_not_positive_then_detect_raises(marked: np.ndarray) -> None:
    with pytest.raises(ValueError, match="max_frames"):
        watermark.detect(marked, max_frames=0)


def test_when_a_55_percent_crop_is_read_then_payload_is_recovered(marked: np.ndarray) -> None:
    # 190x190 of 256x256 (55% of the area) at (40, 20): reading only whole cells (the previous detector) loses
    # this one; the partly visible cells keep the code decodable. (Some other positions still fail: RESULTS.)
    assert watermark.detect(np.ascontiguousarray(marked[:, 40:230, 20:210])).payload == PAYLOAD


def test_when_a_clean_clip_is_longer_than_the_first_stage_then_only_the_first_second_is_analysed(
        marked: np.ndarray) -> None:
    found = watermark.detect(marked)
    assert found.details["frames"] == 24.0 and found.details["looks"] == 2.0


def test_when_every_pilot_agrees_then_the_signed_rank_p_is_exactly_two_to_the_minus_n() -> None:
    rng = np.random.default_rng(5)
    signs = rng.choice([-1.0, 1.0], 40)
    values = signs * rng.uniform(0.1, 3.0, 40)
    assert signed_rank_p(values, signs) == pytest.approx(2.0 * 2.0**-40)
    values[:10] = 0.0  # unseen cells are left out of the test
    assert signed_rank_p(values, signs) == pytest.approx(2.0 * 2.0**-30)


def test_when_signs_are_random_then_the_signed_rank_p_is_uniform_enough() -> None:
    rng = np.random.default_rng(6)
    pvalues = np.array([signed_rank_p(rng.normal(size=60), rng.choice([-1.0, 1.0], 60)) for _ in range(400)])
    assert 0.0 <= np.mean(pvalues < 0.05) <= 0.09  # valid: about 5% below 0.05, never far more
    assert 0.35 <= np.mean(pvalues < 0.5) <= 0.65


def test_when_an_area_is_dark_and_flat_then_the_mark_there_is_weaker_than_on_texture() -> None:
    rng = np.random.default_rng(7)
    frame = np.full((1, 128, 128, 3), 20, np.uint8)  # dark, flat left half
    frame[0, :, 64:] = rng.integers(60, 200, (128, 64, 3), dtype=np.uint8)  # bright, textured right half
    gain = gain_maps(frame)[0]  # (32, 32)
    assert gain[:, :12].mean() < 0.3 * gain[:, 20:].mean()


def generated_like(seed: int, frames: int = 17, size: int = 128, texture: float = 5.0) -> np.ndarray:
    """What the bundled generator makes: mid-grey, low-contrast speckle that is new every frame, a moving blob."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    out = np.empty((frames, size, size, 3), np.uint8)
    for t in range(frames):
        speckle = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 2.5)
        image = 128.0 + (texture / speckle.std()) * np.repeat(speckle[..., None], 3, axis=-1)
        image[(xx - 24 - 5 * t) ** 2 + (yy - 64) ** 2 < 14**2] = (200, 40, 40)
        out[t] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return out


def test_when_texture_changes_every_frame_then_no_fitted_motion_makes_the_frame_difference_worse() -> None:
    rng = np.random.default_rng(8)
    for _ in range(12):
        a, b = (128 + 30 * cv2.GaussianBlur(rng.standard_normal((128, 128)).astype(np.float32), (0, 0), 2.5)
                for _ in range(2))
        matrix = _step_motion(a, b)
        warped = cv2.warpAffine(a, matrix[:2], (128, 128), borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))
        seen = warped == warped
        assert np.abs(b - warped)[seen].mean() <= np.abs(b - a)[seen].mean()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_when_a_generated_like_clip_is_marked_then_payload_is_recovered(seed: int) -> None:
    frames = generated_like(seed)
    marked = watermark.embed(frames, PAYLOAD, fps=8.0)
    found = watermark.detect(marked)
    assert found.marked and found.payload == PAYLOAD
    assert found.details["visible_x"] > 0.9 and found.details["visible_y"] > 0.9  # the whole frame, not a crop


@pytest.mark.parametrize("fps", [8.0, 24.0])  # Manchester (every frame marked) and the doublet (8 of 20)
def test_when_frames_are_drawn_on_threads_then_the_marked_clip_is_byte_identical_to_one_thread(monkeypatch,
                                                                                             fps: float) -> None:
    from watermark import embedder

    clip = camera_move(frames=20, size=128)
    clip[:, :16] = [255, 40, 0]  # a saturated band: the spread path runs in the workers too
    monkeypatch.setattr(embedder, "THREADS", 1)
    one = watermark.embed(clip, PAYLOAD, fps=fps)
    monkeypatch.setattr(embedder, "THREADS", 3)
    monkeypatch.setattr(embedder, "_MIN_THREADED_PIXELS", 0)  # a small clip, threaded anyway
    calls = []
    real_pool = embedder.ThreadPoolExecutor
    monkeypatch.setattr(embedder, "ThreadPoolExecutor", lambda n: calls.append(n) or real_pool(n))
    assert np.array_equal(watermark.embed(clip, PAYLOAD, fps=fps), one)
    assert calls == [3, 3]  # the gain maps and the drawing both ran on the pool
    assert not np.array_equal(one, clip)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("frames", [1, 48])  # _likeliest_first pools one (1, A, A) estimate; the others (T, A, A)
def test_when_half_cells_are_pooled_then_opencv_gives_the_strided_mean_exactly(dtype: type, frames: int) -> None:
    from watermark.detector import ANALYSIS, POOL, _pool

    x = np.random.default_rng(frames).standard_normal((frames, ANALYSIS, ANALYSIS)) * 10.0 ** np.random.default_rng(
        1).uniform(-6, 6, (frames, ANALYSIS, ANALYSIS))
    x = x.astype(dtype)
    side = ANALYSIS // POOL
    pooled = _pool(x)
    assert pooled.dtype == x.dtype
    assert np.array_equal(pooled, x.reshape(frames, side, POOL, side, POOL).mean(axis=(2, 4)))
