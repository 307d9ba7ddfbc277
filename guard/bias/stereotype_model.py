"""The fine-tuned stereotype classifier: all-MiniLM-L6-v2 fine-tuned end to end (``finetune_stereotype.py``),
shipped as an int8 ONNX graph (``guard/data/bias/stereotype_model.onnx``) with its threshold and checks in
``stereotype_model.json``.

Why a second MiniLM: the head over the prompt filter's frozen sentence embedding reads topic, not frame, so
counter-speech that names a group ("it is a myth that X are criminals") scores like the stereotype itself and
sets its threshold. The fine-tuned encoder reads the frame. It costs one forward pass of its own, so the gate
runs it only on prompts that mention a protected group (most prompts do not).

Loading is checked, and a failure raises ``ConfigError`` (a gate that used it could then not be built, so the
pipeline would refuse to release: fail closed): the file's sha256 must equal the one recorded at training time,
and the logits of the recorded probe texts must be reproduced by this onnxruntime build.

Status: NOT wired into the gate and no model file ships. The seventh session's dev cross-validation did not
show the fine-tuned encoder beating the shipped head (benchmarks/RESULTS.md, issue 7, "Seventh session"); this
loader is what ``finetune_stereotype train`` uses to score its export exactly as a gate would, kept so a later
round can wire a winning model in (``StereotypeRecognizer`` would run it only on group-mentioning text).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from guard.errors import ConfigError

MODEL_NAME = "stereotype_model"
MAX_TOKENS = 128
PROBE_TOLERANCE = 1e-3  # max |logit - recorded logit| on the probe texts


def default_paths() -> tuple[Path, Path]:
    """``(onnx, json)`` of the bundled model in ``guard/data/bias``."""
    base = Path(str(resources.files("guard"))) / "data" / "bias"
    return base / f"{MODEL_NAME}.onnx", base / f"{MODEL_NAME}.json"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class StereotypeModel:
    """``score(texts)`` = the classifier's logit per text (max over the embedder's word windows)."""

    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer, truncating at MAX_TOKENS
    threshold: float
    meta: dict[str, Any]

    def logits(self, texts: list[str]) -> np.ndarray:
        """(N,) logits of whole texts (each truncated at 128 tokens), one forward pass per text: a prompt's
        score never depends on what else is in its batch."""
        out = np.empty(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            ids = np.array([self.tokenizer.encode(text).ids], dtype=np.int64)  # (1, L)
            out[i] = self.session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
        return out

    def score(self, texts: list[str]) -> np.ndarray:
        """(N,) logits, each the max over the text's windows (padding cannot dilute a harmful phrase)."""
        from guard.prompt_filter.embedder import windows

        return np.array([self.logits(windows(t)).max() for t in texts], dtype=np.float32)

    @classmethod
    def load(cls, path: Path, meta_path: Path, threads: int = 1) -> StereotypeModel:
        """Load and check; any failure is a ``ConfigError`` naming the file."""
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            digest = file_sha256(path)
            if digest != meta["sha256"]:
                raise ValueError(f"sha256 {digest[:12]} differs from the recorded {meta['sha256'][:12]}")
            model = cls(_session(path, threads), _tokenizer(), float(meta["threshold"]), meta)
            probes = meta["probes"]
            got = model.logits(list(probes))
            diff = float(np.abs(got - np.array(list(probes.values()), dtype=np.float32)).max())
            if not diff <= PROBE_TOLERANCE:
                raise ValueError(f"probe logits differ from the recorded ones by {diff:.2e}")
        except Exception as exc:  # noqa: BLE001 - whatever broke, the model is unusable: say which file
            raise ConfigError(f"stereotype model {path} unusable ({type(exc).__name__}: {exc})") from exc
        return model


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _tokenizer() -> Any:
    """The bundled MiniLM tokenizer (``tokenizer.json``), truncating at 128 tokens, no padding."""
    from tokenizers import Tokenizer

    from guard.prompt_filter.resources import minilm_path

    bare = Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))
    bare.no_padding()
    bare.enable_truncation(max_length=MAX_TOKENS)
    return bare


@lru_cache(maxsize=2)
def load_stereotype_model(path: str = "", meta_path: str = "") -> StereotypeModel:
    """The bundled model (or the one at ``path``/``meta_path``), loaded once per process."""
    default_onnx, default_json = default_paths()
    return StereotypeModel.load(Path(path) if path else default_onnx, Path(meta_path) if meta_path else default_json)
