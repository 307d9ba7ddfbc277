"""Procedural training scenes: coloured shapes moving over gradient or textured backgrounds.

Why procedural: the bundled generator must be trained here, offline, in a few CPU hours, and its
prompt adherence must be measurable without a human in the loop. Every clip is a pure function of an
integer seed, every caption is drawn from varied natural-language templates, and a fixed set of
colour-shape-motion triples never appears in training (``HELD_OUT_TRIPLES``) so evaluation measures
composition rather than memorisation.

Objects are saturated colours; backgrounds are desaturated (grey-ish tints), so an analyser can find
the object by saturation. Pure numpy + OpenCV drawing; no I/O.
"""

from __future__ import annotations

import colorsys
import hashlib
from dataclasses import dataclass

import cv2
import numpy as np

# ---------------------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------------------

NUM_FRAMES = 17
FPS = 8.0
SIZE = 128

COLOURS: dict[str, float] = {  # name -> hue in degrees
    "red": 0.0,
    "orange": 28.0,
    "yellow": 58.0,
    "green": 120.0,
    "cyan": 185.0,
    "blue": 228.0,
    "purple": 272.0,
    "magenta": 315.0,
}
SHAPES = ("circle", "square", "triangle", "star")


def nearest_colour(hue: float) -> str:
    """The name in ``COLOURS`` whose hue is nearest to ``hue`` (degrees) around the colour circle."""
    return min(COLOURS, key=lambda name: min(abs(hue - COLOURS[name]), 360.0 - abs(hue - COLOURS[name])))


DIRECTIONS: dict[str, tuple[float, float]] = {  # name -> unit (dx, dy), image y grows downwards
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "up-left": (-0.7071, -0.7071),
    "up-right": (0.7071, -0.7071),
    "down-left": (-0.7071, 0.7071),
    "down-right": (0.7071, 0.7071),
}
MOTIONS = (*DIRECTIONS, "bouncing", "rotating", "growing", "static")
SIZES: dict[str, tuple[float, float]] = {"small": (11.0, 14.0), "medium": (15.0, 19.0), "large": (20.0, 24.0)}
BACKGROUNDS = ("plain", "linear gradient", "radial gradient", "noise texture", "stripes", "checker")

COLOUR_SYNONYMS: dict[str, tuple[str, ...]] = {
    "red": ("red", "bright red", "crimson"),
    "orange": ("orange", "bright orange"),
    "yellow": ("yellow", "bright yellow", "golden yellow"),
    "green": ("green", "bright green", "lime green"),
    "cyan": ("cyan", "turquoise", "aqua"),
    "blue": ("blue", "deep blue", "royal blue"),
    "purple": ("purple", "violet"),
    "magenta": ("magenta", "pink", "hot pink"),
}
SHAPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "ball", "disc", "round dot"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle", "triangular shape"),
    "star": ("star", "five-pointed star"),
}
MOTION_PHRASES: dict[str, tuple[str, ...]] = {
    "left": ("moving left", "sliding to the left", "drifting leftward", "travelling to the left"),
    "right": ("moving right", "sliding to the right", "drifting rightward", "travelling to the right"),
    "up": ("moving up", "rising upward", "floating up", "travelling upwards"),
    "down": ("moving down", "falling downward", "sinking down", "dropping down"),
    "up-left": ("moving diagonally up and to the left", "drifting toward the top left corner"),
    "up-right": ("moving diagonally up and to the right", "drifting toward the top right corner"),
    "down-left": ("moving diagonally down and to the left", "drifting toward the bottom left corner"),
    "down-right": ("moving diagonally down and to the right", "drifting toward the bottom right corner"),
    "bouncing": ("bouncing", "bouncing up and down", "hopping in place"),
    "rotating": ("rotating", "spinning in place", "turning around"),
    "growing": ("growing", "getting bigger", "expanding"),
    "static": ("standing still", "resting", "motionless", "not moving"),
}
BACKGROUND_PHRASES: dict[str, tuple[str, ...]] = {
    "plain": ("a plain {tone} background", "a flat {tone} background"),
    "linear gradient": ("a {tone} gradient background", "a softly graded {tone} backdrop"),
    "radial gradient": ("a {tone} radial gradient", "a {tone} vignette background"),
    "noise texture": ("a mottled {tone} texture", "a cloudy {tone} background"),
    "stripes": ("a {tone} striped background", "soft {tone} stripes"),
    "checker": ("a {tone} checkered background", "a soft {tone} checkerboard"),
}
TEMPLATES_ONE = (
    "a {colour} {shape} {motion}",
    "a {size} {colour} {shape} {motion}",
    "a {colour} {shape} {motion} on {background}",
    "{size} {colour} {shape} {motion} over {background}",
    "video of a {colour} {shape} {motion}",
    "one {colour} {shape}, {motion}",
    "a {colour} {shape} {motion} across {background}",
)


# Held out from training: every colour, shape and motion is seen, only these combinations are not.
def _held_out(colour: str, shape: str, motion: str) -> bool:
    digest = hashlib.sha256(f"{colour}|{shape}|{motion}".encode()).digest()
    return digest[0] < 32  # about 1 in 8


HELD_OUT_TRIPLES: frozenset[tuple[str, str, str]] = frozenset(
    (c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS if _held_out(c, s, m)
)
TRAIN_TRIPLES: tuple[tuple[str, str, str], ...] = tuple(
    (c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS if (c, s, m) not in HELD_OUT_TRIPLES
)


# ---------------------------------------------------------------------------------------------------------
# Scene description
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SceneObject:
    colour: str
    shape: str
    motion: str
    size: str
    radius: float  # pixels at 128 px
    rgb: tuple[float, float, float]  # 0..1
    start: tuple[float, float]  # centre at frame 0, pixels
    speed: float  # pixels per frame for translations
    angle0: float  # initial orientation, radians


@dataclass(frozen=True)
class Scene:
    seed: int
    objects: tuple[SceneObject, ...]
    background: str
    tone: str
    caption: str


def _rgb_from_hue(hue_deg: float, sat: float, val: float) -> tuple[float, float, float]:
    return colorsys.hsv_to_rgb((hue_deg % 360.0) / 360.0, sat, val)


TONES: dict[str, tuple[float, float]] = {  # name -> (hue, value) of a desaturated background
    "grey": (0.0, 0.5),
    "light grey": (0.0, 0.75),
    "dark grey": (0.0, 0.25),
    "beige": (40.0, 0.7),
    "slate": (215.0, 0.35),
    "olive": (70.0, 0.4),
    "dusty rose": (350.0, 0.6),
}


def _position_track(obj: SceneObject, size: int) -> list[tuple[float, float, float, float]]:
    """Per-frame (x, y, radius, angle) for one object."""
    x0, y0 = obj.start
    track = []
    for t in range(NUM_FRAMES):
        x, y, r, a = x0, y0, obj.radius, obj.angle0
        if obj.motion in DIRECTIONS:
            dx, dy = DIRECTIONS[obj.motion]
            x, y = x0 + dx * obj.speed * t, y0 + dy * obj.speed * t
        elif obj.motion == "bouncing":
            y = y0 - (size * 0.28) * abs(np.sin(np.pi * 2.0 * t / (NUM_FRAMES - 1)))
        elif obj.motion == "rotating":
            a = obj.angle0 + (np.pi * 0.75) * t / (NUM_FRAMES - 1)
        elif obj.motion == "growing":
            r = obj.radius * (0.55 + 0.9 * t / (NUM_FRAMES - 1))
        track.append((x, y, r, a))
    return track


def _start_for(motion: str, radius: float, speed: float, rng: np.random.Generator, size: int) -> tuple[float, float]:
    """A start point that keeps the object fully inside the frame for the whole clip."""
    margin = radius * 1.3 * (1.45 if motion == "growing" else 1.0) + 1.0  # stars reach 1.25 r
    travel = speed * (NUM_FRAMES - 1)
    lo_x, hi_x, lo_y, hi_y = margin, size - margin, margin, size - margin
    if motion in DIRECTIONS:
        dx, dy = DIRECTIONS[motion]
        lo_x, hi_x = lo_x - min(dx, 0) * travel, hi_x - max(dx, 0) * travel
        lo_y, hi_y = lo_y - min(dy, 0) * travel, hi_y - max(dy, 0) * travel
    elif motion == "bouncing":
        lo_y = lo_y + size * 0.28
    x = rng.uniform(lo_x, max(lo_x, hi_x))
    y = rng.uniform(lo_y, max(lo_y, hi_y))
    return float(x), float(y)


def _make_object(rng: np.random.Generator, triple: tuple[str, str, str], size: int) -> SceneObject:
    colour, shape, motion = triple
    size_name = str(rng.choice(list(SIZES)))
    lo, hi = SIZES[size_name]
    radius = float(rng.uniform(lo, hi)) * size / SIZE
    speed = float(rng.uniform(2.6, 3.6)) * size / SIZE
    if motion in ("up-left", "up-right", "down-left", "down-right"):
        speed *= 0.85
    hue = COLOURS[colour] + rng.uniform(-5.0, 5.0)
    rgb = _rgb_from_hue(hue, rng.uniform(0.8, 1.0), rng.uniform(0.85, 1.0))
    start = _start_for(motion, radius, speed, rng, size)
    return SceneObject(colour, shape, motion, size_name, radius, rgb, start, speed, float(rng.uniform(0, 2 * np.pi)))


def _caption(rng: np.random.Generator, objects: tuple[SceneObject, ...], background: str, tone: str) -> str:
    def pick(options: tuple[str, ...]) -> str:
        return str(options[rng.integers(len(options))])

    bg_text = pick(BACKGROUND_PHRASES[background]).format(tone=tone)
    parts = []
    for i, obj in enumerate(objects):
        template = pick(TEMPLATES_ONE) if i == 0 else "a {colour} {shape} {motion}"
        parts.append(
            template.format(
                colour=pick(COLOUR_SYNONYMS[obj.colour]),
                shape=pick(SHAPE_SYNONYMS[obj.shape]),
                motion=pick(MOTION_PHRASES[obj.motion]),
                size=obj.size,
                background=bg_text,
            )
        )
    return " and ".join(parts)


def make_scene(seed: int, *, triple: tuple[str, str, str] | None = None, two_objects: bool | None = None,
               held_out: bool = False) -> Scene:
    """The scene for ``seed``: deterministic. ``triple`` forces the first object's (colour, shape,
    motion); otherwise it is drawn from the training triples (or the held-out ones if ``held_out``)."""
    rng = np.random.default_rng([seed, 7919])
    pool = tuple(sorted(HELD_OUT_TRIPLES)) if held_out else TRAIN_TRIPLES
    if triple is None:
        triple = pool[rng.integers(len(pool))]
    elif triple[0] not in COLOURS or triple[1] not in SHAPES or triple[2] not in MOTIONS:
        raise ValueError(f"unknown colour/shape/motion in triple {triple!r}")
    first = _make_object(rng, triple, SIZE)
    objects: tuple[SceneObject, ...] = (first,)
    if two_objects is None:
        two_objects = bool(rng.random() < 0.2)
    if two_objects:
        for _ in range(20):
            second_triple = TRAIN_TRIPLES[rng.integers(len(TRAIN_TRIPLES))]
            if second_triple[0] != first.colour and second_triple[1] != first.shape:
                objects = (first, _make_object(rng, second_triple, SIZE))
                break
    background = str(rng.choice(BACKGROUNDS))
    tone = str(rng.choice(list(TONES)))
    return Scene(seed, objects, background, tone, _caption(rng, objects, background, tone))


# ---------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------


def _background(scene: Scene, size: int) -> np.ndarray:
    rng = np.random.default_rng([scene.seed, 104729])
    hue, val = TONES[scene.tone]
    sat = 0.0 if "grey" in scene.tone else 0.22
    base = np.array(_rgb_from_hue(hue, sat, val), np.float32)
    other = np.array(_rgb_from_hue(hue + rng.uniform(-30, 30), sat, np.clip(val + rng.choice([-0.25, 0.25]), 0.1, 0.9)),
                     np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)  # (H, W)
    kind = scene.background
    if kind == "plain":
        w = np.zeros((size, size), np.float32)
    elif kind == "linear gradient":
        ang = rng.uniform(0, 2 * np.pi)
        w = (np.cos(ang) * (xx - 0.5) + np.sin(ang) * (yy - 0.5)) / 1.42 + 0.5
    elif kind == "radial gradient":
        cx, cy = rng.uniform(0.2, 0.8, 2)
        w = np.clip(np.hypot(xx - cx, yy - cy) / 0.9, 0, 1)
    elif kind == "noise texture":
        grid = rng.random((5, 5)).astype(np.float32)
        w = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        w = np.clip((w - w.min()) / max(float(np.ptp(w)), 1e-6), 0, 1)
    elif kind == "stripes":
        ang, period = rng.uniform(0, np.pi), rng.uniform(20, 40) / size
        w = 0.5 + 0.5 * np.sin(2 * np.pi * (np.cos(ang) * xx + np.sin(ang) * yy) / period)
    else:  # checker
        period = rng.uniform(24, 40) / size
        w = 0.5 + 0.5 * np.sin(np.pi * xx / period) * np.sin(np.pi * yy / period)
        w = np.clip(0.5 + 1.5 * (w - 0.5), 0, 1)
    w = w[..., None]  # (H, W, 1)
    return (base * (1 - w) + other * w).astype(np.float32)  # (H, W, 3) in 0..1


def background_rgb(scene: Scene) -> tuple[float, float, float]:
    """Mean RGB in [0, 1] of the scene's background. Why the mean: it is what the caption's background phrase can
    tell (the tone, and a second tone for patterns); a pattern's angle, period and phase come from the seed, so a
    model reading the caption can only learn their average."""
    mean = _background(scene, 32).reshape(-1, 3).mean(axis=0)
    return float(mean[0]), float(mean[1]), float(mean[2])


def _polygon(shape: str, x: float, y: float, r: float, a: float) -> np.ndarray:
    if shape == "square":
        k = np.arange(4)
        ang, rad = a + np.pi / 4 + k * np.pi / 2, np.full(4, r * 1.0)
    elif shape == "triangle":
        k = np.arange(3)
        ang, rad = a - np.pi / 2 + k * 2 * np.pi / 3, np.full(3, r * 1.15)
    else:  # star
        k = np.arange(10)
        ang = a - np.pi / 2 + k * np.pi / 5
        rad = np.where(k % 2 == 0, r * 1.25, r * 0.5)
    pts = np.stack([x + rad * np.cos(ang), y + rad * np.sin(ang)], axis=1)  # (K, 2)
    return np.round(pts * 16).astype(np.int32)  # 4 fractional bits for cv2 sub-pixel drawing


def render(scene: Scene, size: int = SIZE) -> np.ndarray:
    """Draw the scene: (NUM_FRAMES, size, size, 3) uint8 RGB."""
    bg = _background(scene, size)  # (H, W, 3) float
    scale = size / SIZE
    frames = np.empty((NUM_FRAMES, size, size, 3), np.uint8)
    tracks = [_position_track(o, SIZE) for o in scene.objects]
    for t in range(NUM_FRAMES):
        img = (bg * 255.0).astype(np.uint8).copy()
        for obj, track in zip(scene.objects, tracks, strict=True):
            x, y, r, a = track[t][0] * scale, track[t][1] * scale, track[t][2] * scale, track[t][3]
            draw_shape(img, obj.shape, x, y, r, a, tuple(int(round(c * 255)) for c in obj.rgb))
        frames[t] = img
    return frames


def draw_shape(img: np.ndarray, shape: str, x: float, y: float, r: float, a: float,
               colour: tuple[int, ...]) -> None:
    """Draw one filled, anti-aliased ``shape`` of radius ``r`` at (x, y) turned by ``a`` radians into ``img``."""
    if shape == "circle":
        cv2.circle(img, (int(round(x * 16)), int(round(y * 16))), int(round(r * 16)), colour, -1, cv2.LINE_AA,
                   shift=4)
    else:
        cv2.fillPoly(img, [_polygon(shape, x, y, r, a)], colour, cv2.LINE_AA, shift=4)


SILHOUETTE_EXTENT = 1.3  # a silhouette template spans +-1.3 radii (stars reach 1.25 r, triangles 1.15 r)


def silhouette_template(shape: str, size: int) -> np.ndarray:
    """(size, size) float32 coverage in [0, 1] of ``shape`` upright (angle 0), centred, spanning
    +-``SILHOUETTE_EXTENT`` radii: the object-centred outline the layout planner learns to draw."""
    img = np.zeros((size, size), np.uint8)
    draw_shape(img, shape, size / 2, size / 2, size / (2 * SILHOUETTE_EXTENT), 0.0, (255,))
    return img.astype(np.float32) / 255.0


def object_tracks(scene: Scene) -> list[list[tuple[float, float, float, float]]]:
    """Ground-truth per-frame (x, y, radius, angle) of each object, for tests and the analyser."""
    return [_position_track(o, SIZE) for o in scene.objects]


REVERSED_MOTION: dict[str, str] = {
    "left": "right", "right": "left", "up": "down", "down": "up", "up-left": "down-right",
    "down-right": "up-left", "up-right": "down-left", "down-left": "up-right",
    "bouncing": "bouncing", "rotating": "rotating", "static": "static",
}  # "growing" played backwards is shrinking, which is not in the vocabulary


def caption_variant(scene: Scene, variant: int, *, reverse: bool = False) -> str | None:
    """Another caption for ``scene`` (``variant`` selects the phrasing), or for the clip played
    backwards when ``reverse``. None when the reversed clip is not describable or would show a
    held-out triple, so time reversal never leaks evaluation combinations into training."""
    objects = scene.objects
    if reverse:
        if any(o.motion not in REVERSED_MOTION for o in objects):
            return None
        objects = tuple(
            SceneObject(o.colour, o.shape, REVERSED_MOTION[o.motion], o.size, o.radius, o.rgb, o.start, o.speed,
                        o.angle0)
            for o in objects
        )
        if any((o.colour, o.shape, o.motion) in HELD_OUT_TRIPLES for o in objects):
            return None
    rng = np.random.default_rng([scene.seed, 31337, variant, int(reverse)])
    return _caption(rng, objects, scene.background, scene.tone)


def held_out_prompts(count: int, *, seed: int = 0) -> list[tuple[str, tuple[str, str, str]]]:
    """``count`` evaluation captions for single objects of held-out triples, with their triple."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    triples = sorted(HELD_OUT_TRIPLES)
    out = []
    for i in range(count):
        triple = triples[i % len(triples)]
        scene = make_scene(10_000_000 + seed * 100_000 + i, triple=triple, two_objects=False)
        out.append((scene.caption, triple))
    return out
