"""The fail-closed release pipeline.

``GuardedPipeline`` runs the stages in order - check prompt, generate, classify frames, watermark,
sign, record - and releases a file only when every required stage ran and none blocked. A stage that
raises, times out or is missing when the policy requires it yields a ``block`` (an ``error``
verdict), the request is recorded in the ledger, ``Blocked`` is raised, and no output file appears:
the video is encoded and signed into temporary files beside the destination and renamed into place
only at the very end.
"""

from __future__ import annotations

import hashlib
import secrets
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from guard.errors import InputError, InputTooLarge
from guard.ledger import Ledger, sha256_text
from guard.manifest_store import ManifestStore
from guard.paths import writable_base
from guard.policy import Policy
from guard.provenance import ProvenanceSigner, SoftBinding, build_manifest, verify_file
from guard.stages import PAYLOAD_BYTES, Clip, FrameStage, GeneratorStage, PromptStage, WatermarkStage
from guard.verdict import Blocked, Decision, Verdict, stopwatch
from guard.video_io import read_video, write_mp4

T = TypeVar("T")


class StageTimeout(Exception):
    pass


def run_with_timeout(fn: Callable[[], T], timeout_s: float) -> T:
    """Run ``fn`` in a daemon thread; raise ``StageTimeout`` if it is not done in ``timeout_s``.

    A timed-out stage keeps running in the background but its result is discarded: the request is
    already blocked.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise StageTimeout(f"timed out after {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def output_directory(output: Path) -> Path:
    """The nearest existing directory at or above ``output``'s parent, checked before any stage runs: the release's
    temporary files go there, on the output's filesystem, so the final rename is atomic (a temporary directory on
    another filesystem, such as a tmpfs ``/tmp``, cannot be renamed into place). ``InputError`` when ``output``
    cannot be written."""
    if output.is_dir():
        raise InputError(f"output {output} is a directory")
    return writable_base(output.parent, str(output))


@dataclass(frozen=True)
class Release:
    """A released file and everything decided on the way."""

    path: Path
    release_id: str  # hex of the 64-bit watermark payload; the manifest-store key
    request_id: str
    verdicts: tuple[Verdict, ...]
    provenance_state: str
    ledger_seq: int

    @property
    def decision(self) -> Decision:
        return Decision.worst([v.decision for v in self.verdicts])

    def to_dict(self) -> dict[str, Any]:
        return {"released": True, "path": str(self.path), "release_id": self.release_id,
                "request_id": self.request_id, "decision": self.decision.value,
                "provenance": self.provenance_state, "ledger_seq": self.ledger_seq,
                "verdicts": [v.to_dict() for v in self.verdicts]}


@dataclass
class GuardedPipeline:
    """The guarded flow. Stages left ``None`` are missing: required ones block every release."""

    policy: Policy
    prompt: PromptStage | None = None
    generator: GeneratorStage | None = None
    frames: FrameStage | None = None
    watermark: WatermarkStage | None = None
    signer: ProvenanceSigner | None = None
    ledger: Ledger = field(default_factory=Ledger)
    store: ManifestStore = field(default_factory=ManifestStore)

    # ------------------------------------------------------------------ entry points
    def check_prompt(self, prompt: str, *, record: bool = True) -> Verdict:
        """Run the prompt gate alone (moderation): the verdict, recorded in the ledger."""
        self.validate_prompt(prompt)
        verdict = self._prompt_verdict(prompt)
        if record:
            self._record("check_prompt", uuid.uuid4().hex, prompt, [verdict], verdict.decision)
        return verdict

    def check_prompts(self, prompts: Sequence[str], *, record: bool = True) -> list[Verdict]:
        """``check_prompt`` for several prompts at once: one batched call of the prompt gate (when it has
        ``check_batch``) and one ledger transaction. The verdicts are those of one call per prompt; if the
        batched call fails, every prompt is checked on its own, so one bad prompt cannot fail its neighbours."""
        for prompt in prompts:
            self.validate_prompt(prompt)
        verdicts = self._prompt_verdicts(prompts)
        if record and verdicts:
            records = [self._record_of(uuid.uuid4().hex, p, [v], v.decision) for p, v in zip(prompts, verdicts,
                                                                                              strict=True)]
            self.ledger.append_many("check_prompt", records)
        return verdicts

    def generate(self, prompt: str, output: str | Path, *, seed: int = 0,
                 num_inference_steps: int | None = None) -> Release:
        """Prompt -> checks -> model -> frame checks -> watermark -> sign -> release, or ``Blocked``."""
        self.validate_prompt(prompt)
        output_directory(Path(output))  # an unwritable output is refused before the model runs
        request_id = uuid.uuid4().hex
        verdicts: list[Verdict] = []
        # 1. Check the prompt.
        prompt_verdict = self._prompt_verdict(prompt)
        verdicts.append(prompt_verdict)
        self._stop_if_blocked(request_id, prompt, verdicts, "generate")
        effective_prompt = str(prompt_verdict.evidence.get("prompt", prompt))
        # 2. Generate.
        clip = self._generate(effective_prompt, seed, num_inference_steps, verdicts)
        self._stop_if_blocked(request_id, prompt, verdicts, "generate")  # a missing clip came with an error
        clip = cast(Clip, clip)
        # 3-6. Frames, watermark, sign, record.
        return self._finish(request_id, prompt, clip, Path(output), verdicts, "generate")

    def release(self, source: str | Path | Clip, output: str | Path, *, prompt: str | None = None) -> Release:
        """Scan, watermark, sign and write a video made elsewhere (a file path or a decoded ``Clip``)."""
        output_directory(Path(output))
        clip = source if isinstance(source, Clip) else read_video(source, self.policy.limits)
        return self._finish(uuid.uuid4().hex, prompt, clip, Path(output), [], "release")

    def validate_prompt(self, prompt: str) -> None:
        if not isinstance(prompt, str):
            raise InputError(f"prompt must be text, got {type(prompt).__name__}")
        if not prompt.strip():
            raise InputError("prompt is empty")
        try:
            prompt.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate, as JSON's "\ud800" escape gives
            raise InputError(f"prompt is not valid Unicode text (lone surrogate at character {exc.start})") from exc
        limit = self.policy.limits.prompt_max_chars
        if len(prompt) > limit:
            raise InputTooLarge(f"prompt is {len(prompt)} characters, over the limit of {limit}")

    # ------------------------------------------------------------------ stages
    def _run_stage(self, name: str, required: bool, timeout_s: float, stage: object | None,
                   call: Callable[[], T]) -> tuple[Verdict | None, T | None]:
        """Run one stage, turning a missing required stage, an exception or a timeout into an error verdict."""
        if stage is None:
            if required:
                return Verdict(name, Decision.ERROR,
                               reasons=(f"stage '{name}' is required by the policy but not configured",)), None
            return Verdict(name, Decision.ALLOW, reasons=(f"stage '{name}' not configured (optional)",)), None
        with stopwatch() as elapsed:
            try:
                result = run_with_timeout(call, timeout_s)
            except Exception as exc:
                result, error = None, exc
            else:
                error = None
        if error is not None:
            return Verdict.error(name, error, elapsed[0]), None
        return None, result

    def _prompt_verdict(self, prompt: str) -> Verdict:
        policy = self.policy.prompt
        failed, verdict = self._run_stage("prompt", policy.required, policy.timeout_s, self.prompt,
                                          lambda: self.prompt(prompt))  # type: ignore[misc]
        if failed is not None:
            return failed
        if not isinstance(verdict, Verdict):
            return Verdict("prompt", Decision.ERROR, reasons=("prompt stage returned no verdict",))
        return verdict

    def _prompt_verdicts(self, prompts: Sequence[str]) -> list[Verdict]:
        batched = getattr(self.prompt, "check_batch", None)
        if batched is None or len(prompts) < 2:
            return [self._prompt_verdict(p) for p in prompts]
        policy = self.policy.prompt
        failed, verdicts = self._run_stage("prompt", policy.required, policy.timeout_s, self.prompt,
                                           lambda: batched(list(prompts)))
        if failed is not None and any(StageTimeout.__name__ in r for r in failed.reasons):
            return [failed] * len(prompts)  # a hung stage: fail closed now, not once more per prompt
        if failed is None and isinstance(verdicts, list) and len(verdicts) == len(prompts) and all(
                isinstance(v, Verdict) for v in verdicts):
            return verdicts
        return [self._prompt_verdict(p) for p in prompts]

    def _generate(self, prompt: str, seed: int, steps: int | None, verdicts: list[Verdict]) -> Clip | None:
        policy = self.policy.generator
        with stopwatch() as elapsed:
            failed, clip = self._run_stage(
                "generator", True, policy.timeout_s, self.generator,
                lambda: self.generator(prompt, seed=seed, num_inference_steps=steps),  # type: ignore[misc]
            )
        if failed is None and not isinstance(clip, Clip):
            failed = Verdict("generator", Decision.ERROR, reasons=("generator returned no video",))
        if failed is not None:
            verdicts.append(failed)
            return None
        name = getattr(self.generator, "name", type(self.generator).__name__)
        verdicts.append(Verdict("generator", Decision.ALLOW, reasons=(f"generated by {name}",),
                                elapsed_ms=elapsed[0],
                                evidence={"model": name, "seed": seed, "frames": list(clip.frames.shape),
                                          "fps": clip.fps}))
        return clip

    def _finish(self, request_id: str, prompt: str | None, clip: Clip, output: Path,
                verdicts: list[Verdict], kind: str) -> Release:
        if output.suffix.lower() != ".mp4":
            raise InputError(f"output must be an .mp4 file, got {output.name}")
        tmp_root = output_directory(output)
        # 3. Classify frames (may blur faces).
        policy = self.policy.frames
        failed, result = self._run_stage("frames", policy.required, policy.timeout_s, self.frames,
                                         lambda: self.frames(clip))  # type: ignore[misc]
        if failed is None and result is not None:
            frame_verdict, clip = result
            verdicts.append(frame_verdict)
        elif failed is not None:
            verdicts.append(failed)
        self._stop_if_blocked(request_id, prompt, verdicts, kind)
        # 4. Watermark with a fresh 64-bit release id; 5. encode (checking the mark survived it) and sign into
        #    temporary files; 6. rename into place and record.
        payload = secrets.token_bytes(PAYLOAD_BYTES)
        release_id = payload.hex()
        with tempfile.TemporaryDirectory(prefix=".videoguard-", dir=tmp_root) as tmp:
            encoded = Path(tmp) / "encoded.mp4"
            signed = Path(tmp) / "signed.mp4"
            clip, marked = self._watermark_and_encode(clip, payload, encoded, request_id, prompt, verdicts, kind)
            soft = (SoftBinding(self.watermark.algorithm, release_id, 0.0, round(clip.duration_s, 3))  # type: ignore[union-attr]
                    if marked else None)
            safety = self._safety_summary(request_id, release_id, prompt, verdicts)
            manifest = build_manifest(safety, soft, title=self.policy.provenance.title,
                                      claim_generator=self.policy.provenance.claim_generator)
            provenance_verdict, manifest_bytes = self._sign(encoded, signed, manifest)
            verdicts.append(provenance_verdict)
            self._stop_if_blocked(request_id, prompt, verdicts, kind)
            report = verify_file(signed)
            if report.state not in ("trusted", "valid"):
                verdicts.append(Verdict("provenance", Decision.ERROR,
                                        reasons=(f"signed file does not verify: {report.state}",)))
                self._stop_if_blocked(request_id, prompt, verdicts, kind)
            self.store.put(release_id, report.manifest, manifest_bytes or b"")
            digest = hashlib.sha256(signed.read_bytes()).hexdigest()
            # Recorded before the rename: a ledger that cannot be written stops the release (nothing unrecorded
            # leaves), and an existing output overwritten with --force is kept.
            seq = self._record(kind, request_id, prompt, verdicts, Decision.worst([v.decision for v in verdicts]),
                               release_id=release_id, output_sha256=digest)
            output.parent.mkdir(parents=True, exist_ok=True)
            signed.replace(output)
        return Release(output, release_id, request_id, tuple(verdicts), report.state, seq)

    def _watermark_and_encode(self, clip: Clip, payload: bytes, encoded: Path, request_id: str,
                              prompt: str | None, verdicts: list[Verdict], kind: str) -> tuple[Clip, bool]:
        """Embed, encode to ``encoded`` and read the payload back from the file (a closed loop).

        When the file does not give the payload back, the stage's ``reinforce`` (if it has one) measures what
        the detector saw in each part of the mark and the clip is embedded again from the unmarked frames with
        the mark's amplitude moved where the picture disturbs it (same PSNR budget), at most
        ``watermark.settings.attempts`` embeds in all. Why: on short clips whose picture flickers (the bundled
        generator's 17 frames of speckle) a fixed mark can lose to the picture in a few cells, and the release
        knows the picture. A clip that still does not read back is blocked: nothing unmarked leaves.
        Returns the clip as encoded and whether it carries the mark.
        """
        policy = self.policy.watermark
        check = bool(policy.settings.get("verify_after_encode", True))
        attempts = max(1, int(policy.settings.get("attempts", 1))) if check else 1
        reinforce = getattr(self.watermark, "reinforce", None)
        hint = None
        for attempt in range(1, attempts + 1):
            failed, result = self._run_stage(
                "watermark", policy.required, policy.timeout_s, self.watermark,
                lambda h=hint: (self.watermark.embed(clip, payload) if h is None  # type: ignore[union-attr]
                                else self.watermark.embed(clip, payload, hint=h)))  # type: ignore[union-attr]
            if failed is not None:
                verdicts.append(failed)
            self._stop_if_blocked(request_id, prompt, verdicts, kind)
            if result is None:  # an optional stage that is not configured: released unmarked, as the policy allows
                write_mp4(clip, encoded, crf=self.policy.output.crf, preset=self.policy.output.preset)
                return clip, False
            wm_verdict, marked = result
            write_mp4(marked, encoded, crf=self.policy.output.crf, preset=self.policy.output.preset)
            if not check:
                verdicts.append(wm_verdict)
                return marked, True
            check_verdict, received = self._check_mark_survives(encoded, payload, attempt)
            last = attempt == attempts or reinforce is None or received is None
            if check_verdict.decision is Decision.ALLOW or last:
                verdicts += [wm_verdict, check_verdict]
                self._stop_if_blocked(request_id, prompt, verdicts, kind)
                return marked, True
            failed, hint = self._run_stage(
                "watermark", True, policy.timeout_s, reinforce,
                lambda m=marked, r=received, h=hint: reinforce(clip, m, r, payload, h))  # type: ignore[misc]
            if failed is not None:
                verdicts += [wm_verdict, check_verdict, failed]
                self._stop_if_blocked(request_id, prompt, verdicts, kind)
        raise AssertionError("unreachable: the last attempt returns or blocks")

    def _check_mark_survives(self, encoded: Path, payload: bytes, attempt: int) -> tuple[Verdict, Clip | None]:
        """Read the payload back from the encoded file: an ALLOW verdict, or an ERROR one (fail closed) and the
        decoded clip (for ``reinforce``; None if it could not be read)."""
        with stopwatch() as elapsed:
            try:
                received = read_video(encoded, self.policy.limits)
                reading = self.watermark.detect(received)  # type: ignore[union-attr]
            except Exception as exc:
                return Verdict.error("watermark-check", exc), None
        evidence = {"p_value": reading.p_value, "attempt": attempt}
        if not reading.marked or reading.payload != payload:
            return Verdict("watermark-check", Decision.ERROR, elapsed_ms=elapsed[0],
                           reasons=(f"watermark not recoverable from the encoded file (attempt {attempt})",),
                           evidence=evidence), received
        return Verdict("watermark-check", Decision.ALLOW, elapsed_ms=elapsed[0],
                       reasons=(f"payload recovered from the encoded file (attempt {attempt})",),
                       evidence=evidence), received

    def _sign(self, encoded: Path, signed: Path, manifest: dict[str, Any]) -> tuple[Verdict, bytes | None]:
        policy = self.policy.provenance
        with stopwatch() as elapsed:
            failed, manifest_bytes = self._run_stage(
                "provenance", policy.required, policy.timeout_s, self.signer,
                lambda: self.signer.sign_file(encoded, signed, manifest),  # type: ignore[union-attr]
            )
        if failed is not None:
            return failed, None
        return Verdict("provenance", Decision.ALLOW, reasons=("C2PA manifest signed",),
                       elapsed_ms=elapsed[0]), manifest_bytes

    # ------------------------------------------------------------------ records
    def _stop_if_blocked(self, request_id: str, prompt: str | None, verdicts: list[Verdict], kind: str) -> None:
        if any(v.blocked for v in verdicts):
            self._record(kind, request_id, prompt, verdicts, Decision.BLOCK)
            raise Blocked(verdicts)

    def _public(self, verdict: Verdict) -> dict[str, Any]:
        return verdict.to_dict(hide_prompt_text=not self.policy.ledger.log_prompt_text)

    def _record(self, kind: str, request_id: str, prompt: str | None, verdicts: list[Verdict],
                decision: Decision, **extra: Any) -> int:
        return self.ledger.append(kind, self._record_of(request_id, prompt, verdicts, decision, **extra))

    def _record_of(self, request_id: str, prompt: str | None, verdicts: list[Verdict], decision: Decision,
                   **extra: Any) -> dict[str, Any]:
        record: dict[str, Any] = {"request_id": request_id, "decision": decision.value,
                                  "verdicts": [self._public(v) for v in verdicts], **extra}
        if prompt is not None:
            record["prompt_sha256"] = sha256_text(prompt)
            if self.policy.ledger.log_prompt_text:
                record["prompt"] = prompt
        return record

    def _safety_summary(self, request_id: str, release_id: str, prompt: str | None,
                        verdicts: list[Verdict]) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "schema": "videoguard.safety/1",
            "request_id": request_id,
            "release_id": release_id,
            "decision": Decision.worst([v.decision for v in verdicts]).value,
            "policy_sha256": hashlib.sha256(self.policy.to_yaml().encode()).hexdigest(),
            "stages": [{"stage": v.stage, "decision": v.decision.value,
                        "categories": {k: round(s, 4) for k, s in v.scores.items() if s >= 0.01},
                        "reasons": list(v.reasons)} for v in verdicts],
        }
        diversified = [v.evidence.get("diversified") for v in verdicts if v.evidence.get("diversified")]
        if diversified:
            summary["diversified"] = diversified
        if prompt is not None:
            summary["prompt_sha256"] = sha256_text(prompt)
            if self.policy.provenance.include_prompt_text:
                summary["prompt"] = prompt
        return summary
