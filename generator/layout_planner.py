"""The layout stage of the bundled generator: a small learned planner (caption -> object tracks) and the
heatmaps that condition the transformer on a layout.

Why a layout stage: the committed transformer keys colour on the caption but not the trajectory (swapping
"left" for "right" moves its output by a tenth of a colour swap, see benchmarks/RESULTS.md), and a clip's
layout is decided at the highest noise levels, where the text barely steers it. LLM-grounded video diffusion
(Lian et al. 2023) splits the job: a planner turns the text into boxes per frame, and the video model draws
what the boxes say. Here the planner is a small network trained on the procedural scenes' own ground truth
(``scenes.object_tracks``), not a hand-written parser: it regresses, per object slot and frame, the centre
(x, y) and radius, plus whether a second object is present.

Layout format, shared by the planner, training and the pipeline: ``tracks`` (B, K, T, 3) with x, y and radius
as fractions of the frame width (``scenes.SIZE`` = 1), ``present`` (B, K) in [0, 1]; slot 0 is the object the
caption names first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from generator.scenes import (
    DIRECTIONS,
    NUM_FRAMES,
    SILHOUETTE_EXTENT,
    SIZE,
    Scene,
    object_tracks,
    silhouette_template,
)
from generator.text_encoder import MAX_TOKENS, TEXT_DIM, token_states

MAX_OBJECTS = 2
HEATMAP_SIGMA = 0.6  # Gaussian sigma as a fraction of the object's radius
SILHOUETTE_SIZE = 32  # pixels a side of the upright outline templates (a template spans 2.6 radii: ~1-2 px each)


def scene_layout(scene: Scene, num_frames: int = NUM_FRAMES, max_objects: int = MAX_OBJECTS,
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Ground-truth layout of ``scene``: (K, T, 3) tracks (x, y, r as fractions of the frame) and (K,) presence."""
    tracks = torch.zeros(max_objects, num_frames, 3)
    present = torch.zeros(max_objects)
    for k, track in enumerate(object_tracks(scene)[:max_objects]):
        tracks[k] = torch.tensor([[x, y, r] for x, y, r, _ in track[:num_frames]]) / SIZE
        present[k] = 1.0
    return tracks, present


def layout_heatmaps(tracks: torch.Tensor, present: torch.Tensor, size: int | tuple[int, int], peak: float = 1.0,
                    ) -> torch.Tensor:
    """(B, K, T, 3) tracks and (B, K) presence -> (B, K, T, h, w) Gaussian blobs, one channel per object, at
    ``size`` = h = w or (h, w) latent pixels (x and y are fractions of the width and height, r of the width).

    Why Gaussians at latent resolution: the transformer reads its input in 4 x 4 latent-pixel patches, so a
    smooth blob lets one patch's 16 values say where inside the patch the object sits and how large it is;
    the blob's sigma is 0.6 of the object's radius, so most of its mass stays inside the object. ``peak`` scales
    the blobs: the layout weights start at zero and Adam moves each weight by about the learning rate per step,
    so a larger input makes the new channels' effect grow that much faster (a per-channel learning rate)."""
    height, width = (size, size) if isinstance(size, int) else size
    ys = (torch.arange(height, dtype=torch.float32, device=tracks.device) + 0.5) / height  # pixel centres
    xs = (torch.arange(width, dtype=torch.float32, device=tracks.device) + 0.5) / width
    x, y, r = (tracks[..., i, None, None] for i in range(3))  # (B, K, T, 1, 1)
    d2 = (xs[None, :] - x) ** 2 + ((ys[:, None] - y) * height / width) ** 2  # (B, K, T, h, w), in widths
    sigma = (HEATMAP_SIGMA * r).clamp_min(0.5 / width)
    return peak * torch.exp(-d2 / (2 * sigma**2)) * present[..., None, None, None]


def scene_silhouette_targets(scene: Scene, size: int, num_frames: int = NUM_FRAMES, max_objects: int = MAX_OBJECTS,
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ground truth for the planner's outline head: (K, size, size) upright templates of the objects' shapes,
    (K, T) turn since frame 0 in radians, and (K, T) absolute angles (what the clip shows, for the transformer's
    training silhouettes). Absent slots are zero."""
    templates = torch.zeros(max_objects, size, size)
    turns = torch.zeros(max_objects, num_frames)
    angles = torch.zeros(max_objects, num_frames)
    for k, (obj, track) in enumerate(zip(scene.objects[:max_objects], object_tracks(scene), strict=False)):
        templates[k] = torch.from_numpy(silhouette_template(obj.shape, size))
        angles[k] = torch.tensor([a for _, _, _, a in track[:num_frames]])
        turns[k] = angles[k] - angles[k, 0]
    return templates, turns, angles


def place_silhouettes(templates: torch.Tensor, tracks: torch.Tensor, angles: torch.Tensor, present: torch.Tensor,
                      size: int | tuple[int, int], *, per_object: bool = False) -> torch.Tensor:
    """(B, K, S, S) upright outline templates in [0, 1], (B, K, T, 3) tracks, (B, K, T) angles and (B, K)
    presence -> (B, T, h, w) coverage of all objects (their maximum; (B, K, T, h, w) one per object with
    ``per_object``), each template scaled to its radius, turned by its angle and moved to its centre.

    Why a fixed placement of a learned outline: the transformer reads 4 x 4 latent pixels per token and drew
    ragged outlines from a blob; the planner learns each object's outline once, upright, and where it goes
    frame by frame (the track), so the outline stays rigid while the object moves (an object that wobbled
    read as "rotating")."""
    height, width = (size, size) if isinstance(size, int) else size
    batch, slots, frames, _ = tracks.shape
    ys = (torch.arange(height, dtype=torch.float32, device=tracks.device) + 0.5) / height
    xs = (torch.arange(width, dtype=torch.float32, device=tracks.device) + 0.5) / width
    x, y, r = (tracks[..., i, None, None] for i in range(3))  # (B, K, T, 1, 1), fractions of the width
    dx = xs[None, :] - x
    dy = (ys[:, None] - y) * height / width
    cos, sin = torch.cos(angles)[..., None, None], torch.sin(angles)[..., None, None]
    extent = SILHOUETTE_EXTENT * r.clamp_min(1e-4)
    qx = (dx * cos + dy * sin) / extent  # object-centred, upright coordinates in [-1, 1] of the template
    qy = (-dx * sin + dy * cos) / extent
    grid = torch.stack([qx, qy], dim=-1).view(batch * slots, frames * height, width, 2)
    sampled = torch.nn.functional.grid_sample(templates.reshape(batch * slots, 1, *templates.shape[-2:]), grid,
                                              mode="bilinear", padding_mode="zeros", align_corners=False)
    sampled = sampled.view(batch, slots, frames, height, width) * present[..., None, None, None]
    return sampled if per_object else sampled.amax(dim=1)


SKETCH_BACKGROUND = 0.5  # mid grey, for a planner without a background head: the sampler draws the background


def paint_sketch(coverage: torch.Tensor, colours: torch.Tensor, background: torch.Tensor | None = None,
                 ) -> torch.Tensor:
    """(B, K, T, H, W) per-object coverage and (B, K, 3) RGB -> (B, T, 3, H, W) frames in [0, 1]: each object
    in its colour over the (B, 3) ``background`` colour (mid grey when None), later slots over earlier ones. A
    sampler may start from this sketch (SDEdit, Meng et al. 2022) instead of pure noise."""
    batch, slots, frames, height, width = coverage.shape
    if background is None:
        background = torch.full((batch, 3), SKETCH_BACKGROUND, device=coverage.device)
    frames_rgb = background[:, None, :, None, None].expand(batch, frames, 3, height, width).clone()
    for k in range(slots):
        alpha = coverage[:, k, :, None]  # (B, T, 1, H, W)
        frames_rgb = frames_rgb * (1 - alpha) + alpha * colours[:, k, None, :, None, None]
    return frames_rgb


STATIC_WEIGHT = 7.5  # scales MiniLM's static word-piece embeddings (norm ~1.1) to its contextual states' (~8.5)


@torch.no_grad()
def planner_inputs(tokenizer: PreTrainedTokenizerBase, text_model: PreTrainedModel, captions: list[str],
                   max_tokens: int = MAX_TOKENS) -> tuple[torch.Tensor, torch.Tensor]:
    """Captions -> (B, L, 768) features and (B, L) bool token mask for the planner.

    The features are MiniLM's contextual states beside its static (context-free) word-piece embeddings. Why both:
    the contextual states nearly merge opposite directions ("right"/"left" cosine 0.82 at the word), the static
    ones keep them apart (0.49), and the contextual ones say which object a word belongs to."""
    hidden, static, attention = token_states(tokenizer, text_model, captions, max_tokens)
    mask = attention.bool()
    return torch.cat([hidden, STATIC_WEIGHT * static], dim=-1) * mask[..., None], mask


@dataclass
class PlannedLayout:
    """What the planner says about a batch of captions: ``tracks`` (B, K, T, 3), ``present`` (B, K) in {0, 1} and,
    from the optional heads, upright ``templates`` (B, K, S, S) in [0, 1], ``angles`` (B, K, T) radians (each
    object starts upright), ``colours`` (B, K, 3) RGB in [0, 1] and ``background`` (B, 3), the background's mean
    RGB in [0, 1]."""

    tracks: torch.Tensor
    present: torch.Tensor
    templates: torch.Tensor | None = None
    angles: torch.Tensor | None = None
    colours: torch.Tensor | None = None
    background: torch.Tensor | None = None


class LayoutPlanner(ModelMixin, ConfigMixin):
    """Caption features -> per object slot and frame (x, y, radius) in [0, 1] of the frame, and a presence logit.

    A two-layer transformer encoder over the caption's tokens, then one learned query per object slot that
    attends to the tokens (slot 0 learns to read the first-named object, slot 1 the one after "and"), and an MLP
    from the slot's summary to its whole track. Regression to the mean track: where a caption leaves the start
    point free, the planner puts the object in the middle of where such clips start, moving the way the caption
    says."""

    @register_to_config
    def __init__(self, input_dim: int = 2 * TEXT_DIM, hidden_dim: int = 128, num_layers: int = 2, num_heads: int = 4,
                 max_tokens: int = MAX_TOKENS, num_frames: int = NUM_FRAMES, max_objects: int = MAX_OBJECTS,
                 silhouette_size: int = 0, predict_colour: bool = False, predict_background: bool = False) -> None:
        super().__init__()
        self.in_proj = nn.Linear(input_dim, hidden_dim)
        self.position = nn.Parameter(torch.zeros(max_tokens, hidden_dim))
        layer = nn.TransformerEncoderLayer(hidden_dim, num_heads, 2 * hidden_dim, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.queries = nn.Parameter(torch.randn(max_objects, hidden_dim) * 0.02)
        self.pool = nn.MultiheadAttention(hidden_dim, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(hidden_dim)
        self.head = nn.Sequential(nn.Linear(hidden_dim, 2 * hidden_dim), nn.GELU(),
                                  nn.Linear(2 * hidden_dim, num_frames * 3 + 1))
        # the outline head (optional: 0 keeps the planner of the first layout stage): per slot an upright
        # silhouette_size^2 template of logits and the turn per frame since frame 0
        self.outline_head = nn.Sequential(nn.Linear(hidden_dim, 2 * hidden_dim), nn.GELU(),
                                          nn.Linear(2 * hidden_dim, silhouette_size**2 + num_frames),
                                          ) if silhouette_size else None
        # the colour head (optional): each object's RGB, for the sketch a sampler may start from
        self.colour_head = nn.Linear(hidden_dim, 3) if predict_colour else None
        # the background head (optional): the background's mean RGB, read by one more query (the background is
        # the scene's, not an object's; the object queries' outputs do not change when it is added)
        self.background_query = nn.Parameter(torch.randn(1, hidden_dim) * 0.02) if predict_background else None
        self.background_head = nn.Linear(hidden_dim, 3) if predict_background else None

    def _slots(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, L, input_dim) features, (B, L) bool mask -> (B, K, hidden) one summary per object slot (then one
        for the background, with a background head)."""
        batch, length, _ = features.shape
        h = self.in_proj(features) + self.position[:length]
        h = self.encoder(h, src_key_padding_mask=~mask)
        queries = self.queries if self.background_query is None else torch.cat([self.queries, self.background_query])
        queries = queries.expand(batch, -1, -1)
        pooled, _ = self.pool(queries, h, h, key_padding_mask=~mask, need_weights=False)  # (B, K, hidden)
        return self.norm(pooled + queries)

    def heads(self, features: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, L, input_dim) features, (B, L) bool mask -> every head's output from one pass over the caption:
        ``tracks`` (B, K, T, 3) in [0, 1], ``presence`` (B, K) logits and, where the heads exist, ``templates``
        (B, K, S, S) upright outline logits, ``turns`` (B, K, T) radians since frame 0, ``colours`` (B, K, 3),
        ``background`` (B, 3)."""
        slots = self._slots(features, mask)
        cfg = self.config
        background = None
        if self.background_head is not None:
            slots, background = slots[:, :-1], torch.sigmoid(self.background_head(slots[:, -1]))
        out = self.head(slots)  # (B, K, T * 3 + 1)
        result = {"tracks": torch.sigmoid(out[..., :-1]).view(features.shape[0], cfg.max_objects, cfg.num_frames, 3),
                  "presence": out[..., -1]}
        if self.outline_head is not None:
            outline = self.outline_head(slots)
            size = cfg.silhouette_size
            result["templates"] = outline[..., : size * size].unflatten(-1, (size, size))
            result["turns"] = outline[..., size * size:]
        if self.colour_head is not None:
            result["colours"] = torch.sigmoid(self.colour_head(slots))
        if background is not None:
            result["background"] = background
        return result

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, input_dim) features, (B, L) bool mask -> (B, K, T, 3) tracks in [0, 1], (B, K) presence logits."""
        out = self.heads(features, mask)
        return out["tracks"], out["presence"]

    @torch.no_grad()
    def plan_all(self, tokenizer: PreTrainedTokenizerBase, text_model: PreTrainedModel, captions: list[str],
                 ) -> PlannedLayout:
        """Captions -> the whole plan (every head this planner has), from one MiniLM call and one pass."""
        features, mask = planner_inputs(tokenizer, text_model, captions, self.config.max_tokens)
        out = {k: v.float() for k, v in self.heads(features.to(self.dtype), mask).items()}
        present = (out["presence"] > 0).float()
        present[:, 0] = 1.0
        templates = torch.sigmoid(out["templates"]) if "templates" in out else None
        return PlannedLayout(out["tracks"], present, templates, out.get("turns"), out.get("colours"),
                             out.get("background"))

    def plan(self, tokenizer: PreTrainedTokenizerBase, text_model: PreTrainedModel, captions: list[str],
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Captions -> (B, K, T, 3) tracks and (B, K) presence in {0, 1} (slot 0 always present)."""
        planned = self.plan_all(tokenizer, text_model, captions)
        return planned.tracks, planned.present

    def plan_outlines(self, tokenizer: PreTrainedTokenizerBase, text_model: PreTrainedModel, captions: list[str],
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Captions -> (B, K, S, S) upright templates in [0, 1] and (B, K, T) angles (each object starts upright)."""
        if self.outline_head is None:
            raise ValueError("this planner has no outline head (silhouette_size is 0)")
        planned = self.plan_all(tokenizer, text_model, captions)
        return planned.templates, planned.angles

    def plan_colours(self, tokenizer: PreTrainedTokenizerBase, text_model: PreTrainedModel, captions: list[str],
                     ) -> torch.Tensor:
        """Captions -> (B, K, 3) RGB in [0, 1] of each object slot."""
        if self.colour_head is None:
            raise ValueError("this planner has no colour head")
        return self.plan_all(tokenizer, text_model, captions).colours


def track_motion(track: torch.Tensor, *, travel_min: float = 0.12, grow_ratio: float = 1.8) -> str:
    """The motion a (T, 3) track shows, by the analyser's rules (``generator/analyzer.py``: growth of the area by
    ``grow_ratio``, travel of ``travel_min`` of the frame, bounce height); "static" also stands for "rotating",
    which a centre-and-radius track cannot show. For scoring the planner apart from the renderer."""
    k = max(1, track.shape[0] // 6)
    start, end = track[:k].mean(0), track[-k:].mean(0)
    if (end[2] / start[2].clamp_min(1e-6)) ** 2 > grow_ratio:
        return "growing"
    dx, dy = float(end[0] - start[0]), float(end[1] - start[1])
    if math.hypot(dx, dy) > travel_min:
        angle = math.atan2(dy, dx)
        scores = {name: math.cos(angle - math.atan2(vy, vx)) for name, (vx, vy) in DIRECTIONS.items()}
        return max(scores, key=scores.__getitem__)
    if float(track[:, 1].max() - track[:, 1].min()) > 0.12 and float(track[:, 0].max() - track[:, 0].min()) < 0.1:
        return "bouncing"
    return "static"
