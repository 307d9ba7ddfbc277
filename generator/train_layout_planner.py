"""Train the layout planner (``generator/layout_planner.py``): captions -> object tracks, on the procedural scenes.

Each scene is a pure function of its seed, so the ground-truth tracks cost nothing (``scenes.object_tracks``):
the data are captions of training scenes (two phrasings each, and the time-reversed clip's caption with the
track played backwards, which ``caption_variant`` never lets show a held-out triple), encoded once by the
frozen MiniLM. Held-out colour-shape-motion triples are never trained on; the held-out evaluation captions of
``benchmarks/generator_eval.py`` are scored at the end (the predicted track's motion against the true one), to
tell planner errors from renderer errors, and are not used for any choice.

    python -m generator.train_layout_planner --scenes 8000 --steps 3000 --out runs/layout_planner

Resumable: every 250 steps it saves the weights, the optimiser and the batch sampler (``ckpt.pt``); a rerun with
the same arguments continues from there and ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import argparse
import colorsys
import json
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from tqdm.auto import tqdm

from generator.layout_planner import (
    LayoutPlanner,
    planner_inputs,
    scene_layout,
    scene_silhouette_targets,
    track_motion,
)
from generator.scenes import SHAPES, background_rgb, caption_variant, make_scene, nearest_colour, silhouette_template
from generator.text_encoder import load_minilm

PLANNER_SEED_BASE = 40_000_000  # scene seeds of the planner's data (the latent cache uses 20_000_000 + i)
VALIDATION_SEED_BASE = 41_000_000


def caption_data(seeds: range, silhouette_size: int = 0) -> tuple[list[str], dict[str, torch.Tensor]]:
    """Captions of the scenes of ``seeds`` with their targets: (N, K, T, 3) ``tracks`` and (N, K) ``present``,
    and with ``silhouette_size`` the (N, K, S, S) upright ``templates``, (N, K, T) ``turns`` and (N,) ``forward``
    (the turn is learned from forward clips only: "rotating" played backwards turns the other way, and a
    regression over both directions would learn no turn), plus (N, K, 3) object ``colours`` and (N, 3) mean
    ``background`` RGB. Two forward phrasings each, plus the reversed clip's caption where it is describable and
    not a held-out triple."""
    captions: list[str] = []
    rows: dict[str, list[torch.Tensor]] = {"tracks": [], "present": [], "templates": [], "turns": [], "forward": [],
                                           "colours": [], "background": []}
    for seed in seeds:
        scene = make_scene(seed)
        track, pres = scene_layout(scene)
        if silhouette_size:  # the outline targets only for a planner with an outline head
            templates, turns, _ = scene_silhouette_targets(scene, silhouette_size)
        colours = torch.zeros(pres.shape[0], 3)
        for k, obj in enumerate(scene.objects[: pres.shape[0]]):
            colours[k] = torch.tensor(obj.rgb)
        background = torch.tensor(background_rgb(scene))
        for caption, flip in ((scene.caption, False), (caption_variant(scene, 1), False),
                              (caption_variant(scene, 0, reverse=True), True)):
            if caption is None:
                continue
            captions.append(caption)
            rows["tracks"].append(track.flip(1) if flip else track)
            rows["present"].append(pres)
            rows["colours"].append(colours)
            rows["background"].append(background)
            if silhouette_size:
                rows["templates"].append(templates)
                rows["turns"].append(turns)
                rows["forward"].append(torch.tensor(not flip))
    return captions, {k: torch.stack(v) for k, v in rows.items() if v}


def encode(captions: list[str], batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, L, 768) float16 planner features trimmed to the longest caption, (N, L) mask."""
    tokenizer, text_model = load_minilm()
    parts = [planner_inputs(tokenizer, text_model, captions[k:k + batch]) for k in range(0, len(captions), batch)]
    features = torch.cat([f for f, _ in parts]).half()
    mask = torch.cat([m for _, m in parts])
    length = int(mask.sum(1).max())
    return features[:, :length].contiguous(), mask[:, :length].contiguous()


def losses(planner: LayoutPlanner, features: torch.Tensor, mask: torch.Tensor, targets: dict[str, torch.Tensor],
           ) -> dict[str, torch.Tensor]:
    """Track loss (mean squared error in frame fractions, x100, over present objects), presence loss and, for a
    planner with an outline head, the template's cross-entropy and the turn's squared error (forward clips)."""
    tracks, present = targets["tracks"], targets["present"]
    heads = planner.heads(features.float(), mask)  # one pass for every head
    err = ((heads["tracks"] - tracks) ** 2).mean(dim=(2, 3)) * present  # (B, K)
    out = {"track": 100.0 * err.sum() / present.sum(),
           "presence": torch.nn.functional.binary_cross_entropy_with_logits(heads["presence"][:, 1:], present[:, 1:])}
    if "templates" in heads:
        bce = torch.nn.functional.binary_cross_entropy_with_logits(heads["templates"], targets["templates"],
                                                                   reduction="none")
        out["outline"] = (bce.mean(dim=(2, 3)) * present).sum() / present.sum()
        weight = present * targets["forward"][:, None].float()
        turn_err = ((heads["turns"] - targets["turns"]) ** 2).mean(dim=2)
        out["turn"] = (turn_err * weight).sum() / weight.sum().clamp_min(1)
    if "colours" in heads:
        err = ((heads["colours"] - targets["colours"]) ** 2).mean(dim=2) * present
        out["colour"] = 10.0 * err.sum() / present.sum()
    if "background" in heads:
        out["background"] = 10.0 * ((heads["background"] - targets["background"]) ** 2).mean()
    return out


def motion_accuracy(planner: LayoutPlanner, captions: list[str], tracks: torch.Tensor) -> dict:
    """Share of captions whose planned first-object track shows the true track's motion (``track_motion``;
    rotating and static both read "static"), overall and per true motion."""
    tokenizer, text_model = load_minilm()
    planned, _ = planner.eval().plan(tokenizer, text_model, captions)
    per: dict[str, list[int]] = {}
    confusions: Counter[str] = Counter()
    for got_track, true_track in zip(planned[:, 0], tracks[:, 0], strict=True):
        want, got = track_motion(true_track), track_motion(got_track)
        tally = per.setdefault(want, [0, 0])
        tally[0] += int(want == got)
        tally[1] += 1
        if want != got:
            confusions[f"{want} -> {got}"] += 1
    total = sum(a for a, _ in per.values()) / max(1, sum(n for _, n in per.values()))
    return {"captions": len(captions), "motion_accuracy": total,
            "per_motion": {m: f"{a}/{n}" for m, (a, n) in sorted(per.items())}, "misses": confusions.most_common(8)}


def held_out_captions(count: int) -> tuple[list[str], torch.Tensor]:
    """The ``count`` held-out evaluation captions of benchmarks/generator_eval.py and their true tracks."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.generator_eval import eval_prompts

    prompts = eval_prompts(count, "held-out")
    tracks = torch.stack([scene_layout(make_scene(seed, triple=triple, two_objects=False))[0]
                          for _, triple, seed in prompts])
    return [c for c, _, _ in prompts], tracks


def held_out_triples(count: int) -> list[tuple[str, str, str]]:
    """The (colour, shape, motion) triples of the ``count`` held-out evaluation captions."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.generator_eval import eval_prompts

    return [triple for _, triple, _ in eval_prompts(count, "held-out")]


def outline_accuracy(planner: LayoutPlanner, captions: list[str], shapes: list[str]) -> float:
    """Share of captions whose planned first-object outline is closest (IoU) to the named shape's template."""
    tokenizer, text_model = load_minilm()
    templates, _ = planner.eval().plan_outlines(tokenizer, text_model, captions)
    size = planner.config.silhouette_size
    reference = torch.stack([torch.from_numpy(silhouette_template(s, size)) for s in SHAPES])  # (S, n, n)
    got = templates[:, 0, None] > 0.5
    ref = reference[None] > 0.5
    iou = (got & ref).sum(dim=(2, 3)) / (got | ref).sum(dim=(2, 3)).clamp_min(1)
    return sum(SHAPES[int(i)] == s for i, s in zip(iou.argmax(1), shapes, strict=True)) / max(1, len(shapes))


def colour_accuracy(planner: LayoutPlanner, captions: list[str], colours: list[str]) -> float:
    """Share of captions whose planned first-object RGB has the named colour's hue (nearest of ``COLOURS``)."""
    tokenizer, text_model = load_minilm()
    rgb = planner.eval().plan_colours(tokenizer, text_model, captions)[:, 0]
    hits = sum(nearest_colour(colorsys.rgb_to_hsv(r, g, b)[0] * 360.0) == want
               for (r, g, b), want in zip(rgb.tolist(), colours, strict=True))
    return hits / max(1, len(colours))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", type=int, default=8000)
    p.add_argument("--val-scenes", type=int, default=500)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--held-out-prompts", type=int, default=200, help="score the planner on these at the end")
    p.add_argument("--colour-head", action="store_true", help="train a colour head too (each object's RGB)")
    p.add_argument("--background-head", action="store_true", help="train a background head too (its mean RGB)")
    p.add_argument("--silhouette-size", type=int, default=0,  # the pipeline uses SILHOUETTE_SIZE (32)
                   help="train the outline head too: upright templates of this many pixels a side (0 = none)")
    p.add_argument("--stop-after", type=int, default=None,
                   help="save and stop after this step (rerun with the same arguments to resume)")
    p.add_argument("--out", default="runs/layout_planner")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    captions, targets = caption_data(range(PLANNER_SEED_BASE, PLANNER_SEED_BASE + args.scenes), args.silhouette_size)
    val_captions, val_targets = caption_data(range(VALIDATION_SEED_BASE, VALIDATION_SEED_BASE + args.val_scenes),
                                             args.silhouette_size)
    cached = out / f"features_{args.scenes}_{args.val_scenes}.pt"  # MiniLM is most of the cost: encode once
    if cached.exists():
        features, mask, val_features, val_mask = torch.load(cached, weights_only=True)
    else:
        features, mask = encode(captions)
        val_features, val_mask = encode(val_captions)
        torch.save((features, mask, val_features, val_mask), cached)
    print(f"{len(captions)} training captions, {len(val_captions)} validation, encoded in {time.time() - t0:.0f} s",
          flush=True)
    planner = LayoutPlanner(silhouette_size=args.silhouette_size, predict_colour=args.colour_head,
                            predict_background=args.background_head)
    opt = torch.optim.AdamW(planner.parameters(), lr=args.lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(args.seed)
    ckpt_path, start = out / "ckpt.pt", 0
    if ckpt_path.exists():  # resume: the weights, the optimiser and the batch sampler's state
        state = torch.load(ckpt_path, weights_only=False)
        planner.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        start = state["step"]
        print(f"resumed from {ckpt_path} at step {start}", flush=True)
    stop = min(args.steps, args.stop_after or args.steps)
    with open(out / "log.jsonl", "a") as log:
        for step in tqdm(range(start, stop), initial=start, total=args.steps, desc="planner", mininterval=5):
            lr = args.lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
            for g in opt.param_groups:
                g["lr"] = lr
            idx = torch.randint(0, len(captions), (args.batch,), generator=gen)
            planner.train()
            parts = losses(planner, features[idx], mask[idx], {k: v[idx] for k, v in targets.items()})
            opt.zero_grad(set_to_none=True)
            sum(parts.values()).backward()
            torch.nn.utils.clip_grad_norm_(planner.parameters(), 1.0)
            opt.step()
            if (step + 1) % 250 == 0 or step + 1 == stop:
                planner.eval()
                with torch.no_grad():
                    val_parts = losses(planner, val_features, val_mask, val_targets)
                record = {"step": step + 1, **{f"{k}_loss": float(v.detach()) for k, v in parts.items()},
                          **{f"val_{k}_loss": float(v) for k, v in val_parts.items()}, "t": round(time.time() - t0, 1)}
                log.write(json.dumps(record) + "\n")
                log.flush()
                print(json.dumps(record), flush=True)
                planner.save_pretrained(out)  # the newest weights, usable while training goes on
                tmp = ckpt_path.with_suffix(".tmp")
                torch.save({"model": planner.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                            "step": step + 1}, tmp)
                os.replace(tmp, ckpt_path)
    if stop < args.steps:
        print(f"stopped after step {stop}; rerun with the same arguments to resume", flush=True)
        return
    planner.eval().save_pretrained(out)
    report = {"validation (training triples, unseen scenes)": motion_accuracy(planner, val_captions,
                                                                              val_targets["tracks"])}
    if args.held_out_prompts:
        held_captions, held_tracks = held_out_captions(args.held_out_prompts)
        report["held-out evaluation prompts"] = motion_accuracy(planner, held_captions, held_tracks)
        if args.silhouette_size:
            report["held-out evaluation prompts"]["outline_shape_accuracy"] = outline_accuracy(
                planner, held_captions, [t[1] for t in held_out_triples(args.held_out_prompts)])
        if args.colour_head:
            report["held-out evaluation prompts"]["colour_accuracy"] = colour_accuracy(
                planner, held_captions, [t[0] for t in held_out_triples(args.held_out_prompts)])
    (out / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
