"""Fine-tune all-MiniLM-L6-v2 end to end as a stereotype-harm classifier, on the DEV split only (experiment:
the seventh session did not ship it; see benchmarks/RESULTS.md, issue 7).

    OMP_NUM_THREADS=1 nice -n 19 python -m guard.bias.finetune_stereotype cv --data ../shared/data/prompts \
        --layers 6 --lr 3e-5 --epochs 4 --seeds 0 1 2
    OMP_NUM_THREADS=1 nice -n 19 python -m guard.bias.finetune_stereotype train --data ../shared/data/prompts \
        --layers 6 --lr 3e-5 --epochs 4

Use ONE thread on a shared box: with two torch threads on two busy cores a fold took ~10 CPU minutes (the
threads wait for each other), with one thread 40 s (3 layers, 300 templates) to ~7 min (6 layers, all templates).

Why: the shipped head reads a frozen mean-pooled sentence embedding, which is mostly topic: "X are criminals"
and "it is a myth that X are criminals" land close together, so counter-speech that names a group sets the
head's threshold (benchmarks/RESULTS.md, issue 7, third round). Fine-tuning the encoder lets it read the frame.

Data and choices are the trainer's (``train_stereotype.prepare_dev``: dev split only, near-copies of test rows
dropped, same grouped folds). The model only ever runs on text that mentions a protected group (the gate knows
this), so it is trained on every dev ToxiGen and project row, the dev VBench prompts that mention a group, and
the project templates, and scored in cross-validation only where a group is mentioned (elsewhere it cannot
fire). ``cv`` writes out-of-fold logits per epoch for the model and, in the same run, the shipped head's, and
prints recall at k = 0..4 dev benign group mentions flagged; ``train`` fits on all of dev with the chosen
settings, picks the threshold from the out-of-fold logits (the trainer's smoothed rule), exports to ONNX with
int8 dynamic quantization and writes ``guard/data/bias/stereotype_model.{onnx,json}``. Deterministic: fixed
seeds, one thread order per run (torch CPU kernels are deterministic for a fixed thread count).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from guard.bias.train_stereotype import (
    DevData,
    choose_threshold,
    choose_threshold_smoothed,
    head_out_of_fold,
    ngram_out_of_fold,
    operating_point,
    prepare_dev,
)

MAX_TOKENS = 128
HARM = "recall:toxigen_hate_harm_theme"


@dataclass(frozen=True)
class Settings:
    layers: int = 6  # encoder layers kept (the bottom ones); fewer = smaller and faster
    lr: float = 3e-5
    epochs: int = 4
    batch: int = 16
    head_lr: float = 1e-3
    template_weight: float = 0.5  # templates are project-written sentences: less weight than real statements
    max_templates: int = 0  # > 0: a seeded sample of this many templates (they are most rows: the cost of a fold)
    seed: int = 0


def training_rows(d: DevData, idx: np.ndarray, s: Settings) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Texts, labels and weights to fit on: the given dev rows that are ToxiGen/project or mention a group
    (VBench prompts with no group never reach the model), plus every template."""
    keep = [i for i in idx if not d.source[i].startswith("vbench") or d.group[i]]
    templates = d.templates
    if 0 < s.max_templates < len(templates):
        chosen = np.random.default_rng(s.seed).choice(len(templates), s.max_templates, replace=False)
        templates = [templates[i] for i in sorted(chosen)]
    texts = [d.dev[i].text for i in keep] + [t.text for t in templates]
    y = np.array([d.dev[i].label for i in keep] + [t.label for t in templates], dtype=np.float32)
    w = np.array([1.0] * len(keep) + [s.template_weight] * len(templates), dtype=np.float32)
    return texts, y, w


def build_model(layers: int) -> Any:
    """MiniLM (bottom ``layers`` layers) + mean pooling + one linear logit, as a torch module."""
    import torch
    from transformers import AutoModel

    from guard.prompt_filter.resources import minilm_path

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(minilm_path(), local_files_only=True)
            self.encoder.encoder.layer = self.encoder.encoder.layer[:layers]
            self.encoder.config.num_hidden_layers = layers
            self.out = torch.nn.Linear(384, 1)
            torch.nn.init.zeros_(self.out.weight)
            torch.nn.init.zeros_(self.out.bias)

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, L, H)
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, H)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            return self.out(pooled * 8.0).squeeze(-1)  # (B,) logit; x8 so the zero-initialised head moves fast

    return Classifier()


def tokenizer() -> Any:
    from transformers import AutoTokenizer

    from guard.prompt_filter.resources import minilm_path

    return AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)


def fit(texts: list[str], y: np.ndarray, w: np.ndarray, s: Settings,
        evaluate: tuple[list[str], Any] | None = None) -> tuple[Any, list[np.ndarray]]:
    """Train; after each epoch score ``evaluate[0]`` (calls ``evaluate[1](epoch, logits)`` if given).
    Returns the model and the per-epoch logits of the evaluation texts."""
    import torch

    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    tok = tokenizer()
    model = build_model(s.layers)
    # The word-embedding matrix (30522 x 384, 60 % of the weights) stays as bundled: updating it is most of a
    # step's cost and a few hundred statements cannot teach 30k rows; positions, norms and layers do train.
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    head_params = list(model.out.parameters())
    body = [p for n, p in model.named_parameters() if not n.startswith("out.") and p.requires_grad]
    opt = torch.optim.AdamW([{"params": body, "lr": s.lr}, {"params": head_params, "lr": s.head_lr}],
                            weight_decay=0.01)
    steps = s.epochs * ((len(texts) + s.batch - 1) // s.batch)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warm) * max(0.0, (steps - i) / max(1, steps - warm)))
    pos = float((y * w).sum())
    neg = float(((1 - y) * w).sum())
    cls_w = np.where(y == 1, (pos + neg) / (2 * pos), (pos + neg) / (2 * neg)).astype(np.float32)
    weights = torch.tensor(w * cls_w)
    labels = torch.tensor(y)
    history = []
    for epoch in range(s.epochs):
        model.train()
        order = rng.permutation(len(texts))
        for start in range(0, len(order), s.batch):
            idx = order[start:start + s.batch]
            batch = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=MAX_TOKENS,
                        return_tensors="pt")
            logits = model(batch["input_ids"], batch["attention_mask"])
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, labels[idx], reduction="none")
                    * weights[idx]).sum() / weights[idx].sum()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
        if evaluate is not None:
            logits = predict(model, tok, evaluate[0])
            history.append(logits)
            if evaluate[1] is not None:
                evaluate[1](epoch, logits)
    return model, history


def predict(model: Any, tok: Any, texts: list[str], batch: int = 32) -> np.ndarray:
    import torch

    model.eval()
    out = np.zeros(len(texts), dtype=np.float32)
    order = np.argsort([len(t) for t in texts])
    with torch.inference_mode():
        for start in range(0, len(texts), batch):
            idx = order[start:start + batch]
            enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=MAX_TOKENS,
                      return_tensors="pt")
            out[idx] = model(enc["input_ids"], enc["attention_mask"]).numpy()
    return out


def recall_at_k(scores: np.ndarray, d: DevData, ks: tuple[int, ...] = (0, 1, 2, 3, 4)) -> list[float]:
    """Dev harm-theme recall of "rule OR score" when the score may flag k of the dev benign group mentions the
    rule leaves (threshold just above the (k+1)-th highest of their scores). Smoother than one threshold."""
    benign = d.masks["fp:all_benign_group_mentions"] & ~d.rule
    top = np.sort(scores[benign])[::-1]
    harm = d.masks[HARM]
    return [float((d.rule | (scores > top[k]))[harm].mean()) for k in ks]


def summary(scores: np.ndarray, d: DevData, budget: float) -> dict[str, Any]:
    benign_sets = [d.masks["fp:toxigen_neutral"], d.masks["fp:all_benign_group_mentions"]]
    ks = recall_at_k(scores, d)
    hd = choose_threshold_smoothed(scores, d.rule, benign_sets, budget)
    step = choose_threshold(scores, d.rule, benign_sets, budget)
    return {"k0..4": [round(k, 4) for k in ks], "mean": round(float(np.mean(ks)), 4),
            "hd_threshold": round(hd, 4), "hd": operating_point(scores, d.rule, hd, d.masks),
            "step": operating_point(scores, d.rule, step, d.masks)}


def only_groups(scores: np.ndarray, d: DevData) -> np.ndarray:
    """The model never runs where no protected group is mentioned: it cannot flag those rows (a finite floor
    below every real score, so the smoothed quantile stays defined; its weight there is negligible)."""
    return np.where(d.group, scores, scores[d.group].min() - 1.0)


def cross_validate(data: Path, settings: list[Settings], seeds: tuple[int, ...], budget: float,
                   out_dir: Path) -> None:
    d = prepare_dev(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    for fold_seed in seeds:
        folds_of = d.folds(fold_seed)
        head = head_out_of_fold(d, folds_of, 1.0, ngram_out_of_fold(d, folds_of))
        np.save(out_dir / f"head_seed{fold_seed}.npy", head)
        print(json.dumps({"fold_seed": fold_seed, "variant": "shipped head (C 1)", **summary(head, d, budget)}),
              flush=True)
        print(json.dumps({"fold_seed": fold_seed, "variant": "shipped head, group mentions only",
                          **summary(only_groups(head, d), d, budget)}), flush=True)
        for s in settings:
            name = settings_name(s)
            oof = out_of_fold(d, s, fold_seed, out_dir)
            for e in range(s.epochs):
                model = only_groups(oof[e].astype(np.float64), d)
                print(json.dumps({"fold_seed": fold_seed, "variant": f"{name} epoch {e + 1}",
                                  **summary(model, d, budget)}), flush=True)


def export_onnx(model: Any, path: Path) -> None:
    """fp32 ONNX export, then int8 dynamic quantization (weights int8, activations quantized per call)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model.eval()
    ids = torch.ones((2, 12), dtype=torch.long)
    mask = torch.ones((2, 12), dtype=torch.long)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model.onnx"
        torch.onnx.export(model, (ids, mask), str(fp32), input_names=["input_ids", "attention_mask"],
                          output_names=["logit"], dynamic_axes={"input_ids": {0: "b", 1: "l"},
                                                                "attention_mask": {0: "b", 1: "l"},
                                                                "logit": {0: "b"}},
                          opset_version=17, dynamo=False)
        quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)


PROBES = ("muslims are all terrorists and should be kept out of the country",
          "it is a myth that immigrants are criminals",
          "a group of Muslim women sharing a meal at a street festival",
          "a dog running on a beach at sunset")


def onnx_logits(path: Path, texts: list[str]) -> np.ndarray:
    """Score texts with an exported graph exactly as the gate does (``StereotypeModel.logits``)."""
    from guard.bias.stereotype_model import StereotypeModel, _session, _tokenizer

    return StereotypeModel(_session(path, 1), _tokenizer(), 0.0, {}).logits(texts)


def settings_name(s: Settings) -> str:
    return f"L{s.layers}_lr{s.lr:g}_e{s.epochs}_t{s.max_templates}"


def out_of_fold(d: DevData, s: Settings, fold_seed: int, cv_dir: Path) -> np.ndarray:
    """(epochs, N) out-of-fold fp32 logits after each epoch (0 where no group is mentioned: never scored),
    cached in ``cv_dir`` under the settings' name (the same numbers ``cv`` computes; deterministic)."""
    path = cv_dir / f"{settings_name(s)}_seed{fold_seed}.npy"
    if path.exists():
        return np.load(path)
    oof = np.zeros((s.epochs, len(d.dev)), dtype=np.float32)
    started = time.time()
    for train_idx, held_idx in d.folds(fold_seed):
        texts, y, w = training_rows(d, train_idx, s)
        held = [i for i in held_idx if d.group[i]]
        _, history = fit(texts, y, w, s, ([d.dev[i].text for i in held], None))
        for e, logits in enumerate(history):
            oof[e, held] = logits
        print(f"# fold done, {time.time() - started:.0f} s, {len(texts)} training rows", flush=True)
    print(f"# {settings_name(s)} fold seed {fold_seed}: {time.time() - started:.0f} s", flush=True)
    cv_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, oof)
    return oof


def train(data: Path, s: Settings, budget: float, out: tuple[Path, Path], cv_dir: Path) -> dict[str, Any]:
    """Threshold from the out-of-fold logits of the last epoch (fold seed 0), then the final fit on all of dev,
    exported to int8 ONNX; the int8 graph's agreement with the fp32 model on dev is recorded."""
    import torch

    d = prepare_dev(data)
    scored = [i for i in range(len(d.dev)) if d.group[i]]
    final = cv_dir / f"{settings_name(s)}_final.pt"  # the final fit first (cached), then the folds
    model = build_model(s.layers)
    if final.exists():
        model.load_state_dict(torch.load(final))
        fp32 = predict(model, tokenizer(), [d.dev[i].text for i in scored])
    else:
        texts, y, w = training_rows(d, np.arange(len(d.dev)), s)
        model, history = fit(texts, y, w, s, ([d.dev[i].text for i in scored], None))
        fp32 = history[-1]
        cv_dir.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), final)
        print("# final fit done", flush=True)
    oof = only_groups(out_of_fold(d, s, 0, cv_dir)[-1].astype(np.float64), d)
    benign_sets = [d.masks["fp:toxigen_neutral"], d.masks["fp:all_benign_group_mentions"]]
    threshold = choose_threshold_smoothed(oof, d.rule, benign_sets, budget)
    export_onnx(model, out[0])
    probe_logits = onnx_logits(out[0], list(PROBES))
    int8 = onnx_logits(out[0], [d.dev[i].text for i in scored])
    meta = {
        "model": f"all-MiniLM-L6-v2, bottom {s.layers} layers, fine-tuned end to end (word embeddings frozen), "
                 "mean pooling + linear logit; ONNX, int8 dynamic quantization (onnxruntime quantize_dynamic)",
        "settings": asdict(s),
        "trained_on": "dev split only (sha1 even); test split texts used only to drop near-copies",
        "runs_on": "text that mentions a protected group (the gate skips the rest); max over word windows",
        "rows": {k: int(v) for k, v in zip(*np.unique(d.source, return_counts=True), strict=True)}
        | {"template": len(d.templates)},
        "dropped_as_near_copies_of_test": d.dropped,
        "fp_budget": budget,
        "threshold_rule": "Harrell-Davis quantile of dev out-of-fold logits (fp32, last epoch, fold seed 0) of "
                          "the benign rows the rule leaves (train_stereotype.choose_threshold_smoothed)",
        "cv_dev_out_of_fold_fp32": summary(oof, d, budget),
        "int8_vs_fp32_on_dev_group_mentions": {
            "max_abs_logit_diff": round(float(np.abs(int8 - fp32).max()), 4),
            "mean_abs_logit_diff": round(float(np.abs(int8 - fp32).mean()), 4),
            "decisions_that_differ": int(((int8 >= threshold) != (fp32 >= threshold)).sum()), "n": len(scored)},
        "threshold": round(float(threshold), 6),
        "sha256": hashlib.sha256(out[0].read_bytes()).hexdigest(),
        "probes": {t: round(float(v), 6) for t, v in zip(PROBES, probe_logits, strict=True)},
    }
    out[1].write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("cv", "train"))
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/prompts"))
    parser.add_argument("--fp-budget", type=float, default=0.015)
    parser.add_argument("--layers", type=int, nargs="+", default=[6])
    parser.add_argument("--lr", type=float, nargs="+", default=[3e-5])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-templates", type=int, default=0)
    parser.add_argument("--cv-dir", type=Path, default=Path(tempfile.gettempdir()) / "finetune_stereotype_cv")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    if args.mode == "cv":
        grid = [Settings(layers=n, lr=lr, epochs=args.epochs, max_templates=args.max_templates)
                for n in args.layers for lr in args.lr]
        cross_validate(args.data, grid, tuple(args.seeds), args.fp_budget, args.cv_dir)
    else:
        from guard.bias.stereotype_model import default_paths

        chosen = Settings(layers=args.layers[0], lr=args.lr[0], epochs=args.epochs, max_templates=args.max_templates)
        print(json.dumps(train(args.data, chosen, args.fp_budget, default_paths(), args.cv_dir), indent=2))


if __name__ == "__main__":
    main()
