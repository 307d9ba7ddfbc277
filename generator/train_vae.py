"""Train the bundled per-frame VAE (a small diffusers ``AutoencoderKL``) on procedural scenes.

Why a per-frame 2D VAE: on this 2-core CPU the Wan 3D VAE stalled at grey at 18.9 dB, while a 2D
``AutoencoderKL`` with small channels trains several times faster and decodes a 17-frame clip in
about a second; frame-wise VAEs are how the first latent video diffusion models worked. The
transformer models time.

Two stages, both resumable from ``<out>/ckpt_<stage>.pt`` (the data of step ``k`` is a pure function
of ``(seed, k)``, so a resumed run sees the same batches):

- ``full``: encoder + decoder, L1 + MSE + a tiny KL term.
- ``decoder``: the encoder frozen (the transformer trains on its latents meanwhile), the decoder
  keeps improving reconstruction.
- ``robust``: starts from the ``decoder`` stage, encoder still frozen, and teaches the decoder to draw
  clean frames from imperfect latents: each latent is shrunk towards its mean by a random factor and
  gets gaussian noise (``--latent-noise``). Why: a sampled latent is never exactly an encoder output
  (an undertrained transformer's samples are shrunk and noisy), and a decoder that only ever saw
  encoder outputs turns that error into coloured speckle instead of a slightly soft picture.

    python -m generator.train_vae --stage full --steps 2000 --out runs/vae
    python -m generator.train_vae --stage decoder --steps 2500 --out runs/vae
    python -m generator.train_vae --stage robust --steps 600 --lr 2e-4 --out runs/vae
    python -m generator.train_vae --export runs/vae/export --out runs/vae
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL
from tqdm import tqdm

from generator.scenes import NUM_FRAMES, make_scene, object_tracks, render

VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(32, 64, 64, 64),
    layers_per_block=1,
    latent_channels=16,
    norm_num_groups=8,
    mid_block_add_attention=False,
    sample_size=128,
)
EVAL_SEED_BASE = 5_000_000  # held-out clips: seeds no training step uses, held-out triples
TRAIN_SEED_SPAN = 4_000_000


def build_vae() -> AutoencoderKL:
    return AutoencoderKL(**VAE_CONFIG)


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def batch_for_step(seed: int, step: int, batch: int, crop: int = 128) -> torch.Tensor:
    """``batch`` frames, each from a different training clip: (B, 3, crop, crop).

    Why crops: the VAE is fully convolutional, so 64 px crops train the same weights at a quarter of
    the cost per sample; three in four crops are centred near the first object (edges and colour are
    what is hard to reconstruct)."""
    rng = np.random.default_rng([seed, step])
    seeds = rng.integers(0, TRAIN_SEED_SPAN, batch)
    idx = rng.integers(0, NUM_FRAMES, batch)
    out = []
    for s, i in zip(seeds, idx, strict=True):
        scene = make_scene(int(s))
        frame = render(scene)[int(i)]  # (128, 128, 3)
        if crop < frame.shape[0]:
            limit = frame.shape[0] - crop
            if rng.random() < 0.75:
                x, y, _, _ = object_tracks(scene)[0][int(i)]
                cx, cy = x + rng.uniform(-crop / 3, crop / 3), y + rng.uniform(-crop / 3, crop / 3)
                left, top = int(np.clip(cx - crop / 2, 0, limit)), int(np.clip(cy - crop / 2, 0, limit))
            else:
                left, top = (int(v) for v in rng.integers(0, limit + 1, 2))
            frame = frame[top : top + crop, left : left + crop]
        out.append(frame)
    return to_tensor(np.stack(out))  # (B, 3, crop, crop)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1] after quantising to uint8, as a viewer would see them."""
    qa = ((a.clamp(-1, 1) + 1) * 127.5).round()
    qb = ((b.clamp(-1, 1) + 1) * 127.5).round()
    mse = float(((qa - qb) ** 2).mean())
    return 10.0 * math.log10(255.0**2 / max(mse, 1e-10))


@torch.no_grad()
def eval_psnr(vae: AutoencoderKL, clips: int = 4, offset: int = 0) -> float:
    """Mean PSNR over held-out clips (held-out triples, unseen seeds), all 17 frames each."""
    was_training = vae.training
    vae.eval()
    scores = []
    for i in range(clips):
        x = to_tensor(render(make_scene(EVAL_SEED_BASE + offset + i, held_out=True)))  # (T, 3, H, W)
        z = vae.encode(x).latent_dist.mode()
        scores.append(psnr(vae.decode(z).sample, x))
    vae.train(was_training)
    return float(np.mean(scores))


# stage -> (the stage whose checkpoint it starts from, offset of its data seed); the order is training order
STAGES: dict[str, tuple[str | None, int]] = {"full": (None, 0), "decoder": ("full", 1), "robust": ("decoder", 2)}


def corrupt_latents(z: torch.Tensor, noise: float) -> torch.Tensor:
    """Half the batch kept clean (reconstruction must not get worse); the other half shrunk towards
    the per-channel mean by a factor in [0.5, 1] and given gaussian noise of std up to ``noise`` x the
    latents' std."""
    b = z.shape[0]
    mean = z.mean(dim=(0, 2, 3), keepdim=True)
    std = z.std()
    hit = (torch.arange(b) % 2 == 1).float().view(b, 1, 1, 1)
    shrink = 1.0 - 0.5 * torch.rand(b, 1, 1, 1) * hit
    sigma = noise * std * torch.rand(b, 1, 1, 1) * hit
    return mean + shrink * (z - mean) + sigma * torch.randn_like(z)


def train(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / f"ckpt_{args.stage}.pt"
    vae = build_vae()
    init_stage, data_offset = STAGES[args.stage]
    if init_stage is not None:
        init = torch.load(out / f"ckpt_{init_stage}.pt", weights_only=False)
        vae.load_state_dict(init["model"])
        vae.encoder.requires_grad_(False)
        vae.quant_conv.requires_grad_(False)
    params = [p for p in vae.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    start = 0
    if ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=False)
        vae.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = state["step"]
        torch.set_rng_state(state["torch_rng"])
    with open(out / f"log_{args.stage}.jsonl", "a") as log:
        end = min(args.steps, args.stop_after or args.steps)
        bar = tqdm(range(start, end), initial=start, total=end, desc=f"vae {args.stage}", mininterval=5)
        t0 = time.time()
        for step in bar:
            decay = min(1.0, (args.steps - step) / (0.3 * args.steps))
            lr = args.lr * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * decay)
            for g in opt.param_groups:
                g["lr"] = lr
            data_seed = args.seed + data_offset
            x = batch_for_step(data_seed, step, args.batch, args.crop)  # (B, 3, c, c)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                if init_stage is not None:  # encoder frozen: train the decoder only
                    with torch.no_grad():
                        z = vae.encode(x).latent_dist.mode()
                        if args.stage == "robust":
                            z = corrupt_latents(z, args.latent_noise)
                    y = vae.decode(z).sample
                    kl = torch.zeros(())
                else:
                    post = vae.encode(x).latent_dist
                    y = vae.decode(post.mode()).sample  # deterministic: the KL term only bounds the latents
                    kl = post.kl().mean() / (x[0].numel())
            y = y.float()
            mse = ((y - x) ** 2).mean()
            loss = mse + 0.5 * (y - x).abs().mean() + args.kl * kl.float()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            rec = {"step": step + 1, "loss": float(loss.detach()), "mse": float(mse.detach()), "lr": lr,
                   "t": round(time.time() - t0, 1)}
            if (step + 1) % args.eval_every == 0 or step + 1 == end:
                rec["eval_psnr"] = eval_psnr(vae)
                bar.set_postfix(psnr=f"{rec['eval_psnr']:.2f}")
            log.write(json.dumps(rec) + "\n")
            log.flush()
            if (step + 1) % args.save_every == 0 or step + 1 == end:
                tmp = ckpt_path.with_suffix(".tmp")
                torch.save({"model": vae.state_dict(), "opt": opt.state_dict(), "step": step + 1,
                            "torch_rng": torch.get_rng_state()}, tmp)
                os.replace(tmp, ckpt_path)


def export(args: argparse.Namespace) -> None:
    """Write the best available checkpoint as a diffusers ``AutoencoderKL`` directory, with the latent
    shift/scale measured on training clips so latents are roughly zero-mean unit-variance."""
    out = Path(args.out)
    src = next(out / f"ckpt_{stage}.pt" for stage in reversed(STAGES) if (out / f"ckpt_{stage}.pt").exists())
    vae = build_vae()
    vae.load_state_dict(torch.load(src, weights_only=False)["model"])
    vae.eval()
    with torch.no_grad():
        zs = [vae.encode(batch_for_step(999, k, 16)).latent_dist.mode() for k in range(8)]
    z = torch.cat(zs)  # (N, C, h, w)
    shift, scale = float(z.mean()), 1.0 / float(z.std())
    vae.register_to_config(shift_factor=shift, scaling_factor=scale)
    vae.save_pretrained(args.export)
    print(f"exported {src} -> {args.export} shift={shift:.4f} scale={scale:.4f} psnr={eval_psnr(vae, 8, 100):.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", choices=list(STAGES), default="full")
    p.add_argument("--latent-noise", type=float, default=0.3,
                   help="robust: largest noise std, in units of the latents' own std")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--stop-after", type=int, default=None,
                   help="stop at this step (the learning-rate schedule still follows --steps)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--kl", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--save-every", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-bf16", dest="bf16", action="store_false")
    p.add_argument("--out", default="runs/vae")
    p.add_argument("--export", default=None, help="write the trained VAE as a diffusers directory and exit")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.export:
        export(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
