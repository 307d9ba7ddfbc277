"""The ``videoguard`` command line: thin commands over the library, JSON to stdout with ``--json``.

Exit codes: 0 done / allowed / verified, 1 internal error, 2 usage or input error, 3 blocked by
policy (no file written), 4 verification failed. Errors are one line on stderr, never a traceback
(set ``VIDEOGUARD_DEBUG=1`` to see one).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from guard.errors import InputError, VerificationFailed, VideoguardError, one_line
from guard.policy import Policy, load_policy
from guard.verdict import REWRITE_KEYS, Blocked, Decision, Verdict

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_BLOCKED, EXIT_VERIFY = 0, 1, 2, 3, 4

app = typer.Typer(help="videoguard: a safety and provenance layer for generative video.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
ledger_app = typer.Typer(help="The tamper-evident decision ledger.", no_args_is_help=True)
policy_app = typer.Typer(help="The effective policy.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(policy_app, name="policy")

_state: dict[str, Any] = {"policy_path": None}

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON (one object a line).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists.")]


@app.callback()
def _root(policy: Annotated[Path | None, typer.Option("--policy", envvar="VIDEOGUARD_POLICY",
                                                      help="Policy YAML merged over the default.")] = None) -> None:
    _state["policy_path"] = policy


def current_policy() -> Policy:
    return load_policy(_state["policy_path"])


def emit(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


@contextmanager
def progress(message: str, quiet: bool) -> Iterator[None]:
    """A spinner on a terminal; silent under --json or when stderr is not a terminal."""
    if quiet or not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


def _check_output(output: Path, force: bool) -> None:
    from guard.pipeline import output_directory

    if output.is_dir():
        raise InputError(f"output {output} is a directory")
    if output.exists() and not force:
        raise InputError(f"{output} exists; pass --force to overwrite")
    if output.suffix.lower() != ".mp4":
        raise InputError(f"output must end in .mp4, got {output.name}")
    output_directory(output)  # writable: refused before any video is decoded or model loaded


def _print_verdict(verdict: Verdict) -> None:
    scores = ", ".join(f"{k}={v:.2f}" for k, v in sorted(verdict.scores.items(), key=lambda kv: -kv[1])[:5]
                       if v >= 0.01)
    typer.echo(f"{verdict.decision.value}: {'; '.join(verdict.reasons) or 'no concerns'}"
               + (f" [{scores}]" if scores else ""))


def _blocked(exc: Blocked, as_json: bool) -> None:
    if as_json:
        emit({"released": False, "decision": Decision.BLOCK.value, "stage": exc.verdict.stage,
              "reasons": list(exc.verdict.reasons), "verdicts": [v.to_dict() for v in exc.verdicts]})
    else:
        typer.echo(f"blocked at {exc.verdict.stage}: {'; '.join(exc.verdict.reasons)}", err=True)
    raise typer.Exit(EXIT_BLOCKED)


# ---------------------------------------------------------------------------- prompt
def _read_prompts(file: Path) -> list[str]:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{file} is not UTF-8 text (byte {exc.start})") from exc
    prompts = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{file}:{number}: invalid JSON ({exc.msg})") from exc
            if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
                raise InputError(f"{file}:{number}: JSONL lines need a string 'prompt' field")
            prompts.append(item["prompt"])
        else:
            prompts.append(line)
    if not prompts:
        raise InputError(f"no prompts in {file}")
    return prompts


@app.command("check-prompt")
def check_prompt(
    text: Annotated[str | None, typer.Argument(help="The prompt to check.")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="One prompt a line, or JSONL with 'prompt'.")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Check prompts against the policy. Exit 3 if any is blocked.

    Example: videoguard check-prompt "a red ball bouncing" --json
    """
    from guard.assembly import build_prompt_stage
    from guard.pipeline import GuardedPipeline

    if (text is None) == (file is None):
        raise InputError("give a prompt TEXT or --file F, not both or neither")
    prompts = [text] if text is not None else _read_prompts(file)  # type: ignore[arg-type]
    policy = current_policy()
    pipeline = GuardedPipeline(policy)
    for prompt in prompts:  # refuse bad input before loading any model
        pipeline.validate_prompt(prompt)
    pipeline.prompt = build_prompt_stage(policy)
    worst = Decision.ALLOW
    for prompt in prompts:
        verdict = pipeline.check_prompt(prompt)
        worst = Decision.worst([worst, verdict.decision])
        if as_json:
            # shown as the API shows it: no prompt text unless the policy allows it, the rewrite always
            emit(verdict.to_dict(hide_prompt_text=not policy.ledger.log_prompt_text, keep=REWRITE_KEYS))
        else:
            _print_verdict(verdict)
    if worst.stops_release:
        raise typer.Exit(EXIT_BLOCKED)


# ---------------------------------------------------------------------------- release / generate
@app.command()
def release(
    source: Annotated[Path, typer.Argument(help="A video made elsewhere (MP4, MOV, MKV, WebM, AVI...).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The released MP4.")],
    as_json: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Scan, watermark, sign and write a video. Exit 3 (and no file) if blocked.

    Example: videoguard release clip.mov -o released.mp4
    """
    from guard.assembly import build_pipeline
    from guard.video_io import read_video

    _check_output(output, force)
    policy = current_policy()
    with progress("scanning, watermarking and signing", as_json):
        clip = read_video(source, policy.limits)  # refuse bad input before loading any model
        try:
            result = build_pipeline(policy, with_generator=False).release(clip, output)
        except Blocked as exc:
            _blocked(exc, as_json)
    _report_release(result, as_json)


@app.command()
def generate(
    prompt: Annotated[str, typer.Argument(help="What to make.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The released MP4.")],
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="Random seed.")] = 0,
    steps: Annotated[int | None, typer.Option(min=1, help="Denoising steps (default: the model's).")] = None,
    model: Annotated[str | None, typer.Option(help="A local diffusers video pipeline directory.")] = None,
    as_json: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Run the full guarded flow with the bundled model (or --model). Exit 3 (and no file) if blocked.

    Example: videoguard generate "a red circle moving left" -o clip.mp4 --seed 1
    """
    from guard.assembly import build_pipeline
    from guard.pipeline import GuardedPipeline

    _check_output(output, force)
    policy = current_policy()
    GuardedPipeline(policy).validate_prompt(prompt)  # refuse bad input before loading any model
    generator = None
    if model is not None:
        from guard.generator_stage import build_generator

        generator = build_generator(policy, model)
    with progress("generating", as_json):
        try:
            result = build_pipeline(policy, generator=generator).generate(prompt, output, seed=seed,
                                                                          num_inference_steps=steps)
        except Blocked as exc:
            _blocked(exc, as_json)
    _report_release(result, as_json)


def _report_release(result: Any, as_json: bool) -> None:
    if as_json:
        emit(result.to_dict())
        return
    typer.echo(f"released {result.path} ({result.decision.value}; C2PA {result.provenance_state}; "
               f"release id {result.release_id})")
    for verdict in result.verdicts:
        if verdict.decision is not Decision.ALLOW:
            typer.echo(f"  {verdict.stage}: {verdict.decision.value}: {'; '.join(verdict.reasons)}")


# ---------------------------------------------------------------------------- verify / scan
@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="The video to verify.")],
    as_json: JsonOpt = False,
) -> None:
    """C2PA state and status codes, the watermark, and the safety summary; credentials are recovered
    through the watermark when the manifest was stripped. Exit 4 if verification fails.

    Example: videoguard verify released.mp4 --json
    """
    from guard.verification import verify_video

    with progress("verifying", as_json):
        report = verify_video(file, current_policy())
    if as_json:
        emit(report.to_dict())
    else:
        typer.echo(report.summary_line())
    if not report.ok:
        raise typer.Exit(EXIT_VERIFY)


@app.command()
def scan(
    file: Annotated[Path, typer.Argument(help="The video to scan.")],
    as_json: JsonOpt = False,
) -> None:
    """Run the frame classifiers over a video. Exit 3 if the policy would block it.

    Example: videoguard scan clip.mp4 --json
    """
    try:
        from guard.frame_stage import scan_file
    except ImportError as exc:
        raise VideoguardError(f"frame classifiers unavailable: {exc}") from exc
    with progress("scanning", as_json):
        verdict = scan_file(file, current_policy())
    if as_json:
        emit(verdict.to_dict())
    else:
        _print_verdict(verdict)
    if verdict.blocked:
        raise typer.Exit(EXIT_BLOCKED)


@app.command()
def sample(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the sample MP4.")],
    image: Annotated[str, typer.Option(help="A scikit-image photograph to pan over.")] = "astronaut",
    seconds: Annotated[float, typer.Option(min=0.5, max=60, help="Length in seconds.")] = 2.0,
    size: Annotated[int, typer.Option(min=64, max=1080, help="Frame width and height.")] = 256,
    force: ForceOpt = False,
) -> None:
    """Write a sample clip (a pan over a real photograph) to try release and verify on.

    Example: videoguard sample -o sample.mp4 && videoguard release sample.mp4 -o released.mp4
    """
    from guard.sample import photo_pan
    from guard.stages import Clip
    from guard.video_io import write_mp4

    _check_output(output, force)
    try:
        frames = photo_pan(frames=round(seconds * 24), size=size, image=image)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    write_mp4(Clip(frames, 24.0), output, crf=16)
    typer.echo(f"wrote {output} ({len(frames)} frames, {size}x{size}, 24 fps)")


# ---------------------------------------------------------------------------- serve / ledger / policy
@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="VIDEOGUARD_HOST", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="VIDEOGUARD_PORT", help="Port to bind.")] = 8080,
) -> None:
    """Start the moderation API (FastAPI on uvicorn)."""
    try:
        from guard.api.server import run
    except ImportError as exc:
        raise VideoguardError(f"the API is unavailable: {exc}") from exc
    run(host=host, port=port, policy_path=_state["policy_path"])


@ledger_app.command("verify")
def ledger_verify(as_json: JsonOpt = False) -> None:
    """Check the whole hash chain; exit 4 on any edited, deleted or reordered row."""
    from guard.ledger import Ledger

    check = Ledger().verify()
    if as_json:
        emit({"ok": check.ok, "rows": check.rows, "first_bad_seq": check.first_bad_seq, "problem": check.problem})
    elif check.ok:
        typer.echo(f"ledger ok: {check.rows} rows, chain intact")
    else:
        typer.echo(f"ledger tampered: {check.problem}", err=True)
    if not check.ok:
        raise typer.Exit(EXIT_VERIFY)


@policy_app.command("show")
def policy_show(as_json: JsonOpt = False) -> None:
    """Print the effective policy (default merged with --policy / $VIDEOGUARD_POLICY)."""
    policy = current_policy()
    if as_json:
        emit(policy.model_dump(mode="json"))
    else:
        typer.echo(policy.to_yaml(), nl=False)


def _mount_optional() -> None:
    """Sub-apps that live beside their features (API keys, audits)."""
    for module, attr, name in (("guard.api.keys_cli", "keys_app", "keys"), ("guard.bias.cli", "audit_app", "audit")):
        try:
            sub = getattr(__import__(module, fromlist=[attr]), attr)
        except (ImportError, AttributeError):
            continue
        app.add_typer(sub, name=name)


_mount_optional()


def _terminated(signum: int, _frame: object) -> None:
    """SIGTERM (``kill``, ``timeout``, ``docker stop``) unwinds like Ctrl-C: the release's temporary files are
    removed on the way out instead of being left beside the output."""
    raise SystemExit(128 + signum)


def main() -> None:
    """Entry point: map errors to exit codes and one-line messages."""
    signal.signal(signal.SIGTERM, _terminated)  # `serve` hands signals to uvicorn, which installs its own
    # Model loaders' own progress bars would break the quiet-under---json promise.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        code = app(standalone_mode=False)  # click returns the exit code instead of raising in this mode
        sys.exit(code if isinstance(code, int) else EXIT_OK)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except VerificationFailed as exc:
        typer.echo(f"videoguard: verification failed: {exc}", err=True)
        sys.exit(EXIT_VERIFY)
    except VideoguardError as exc:
        typer.echo(f"videoguard: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Blocked as exc:
        typer.echo(f"videoguard: {exc}", err=True)
        sys.exit(EXIT_BLOCKED)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("videoguard: aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors and anything unexpected
        if callable(getattr(exc, "show", None)) and hasattr(exc, "exit_code"):  # click/typer usage errors
            exc.show()
            sys.exit(EXIT_INPUT)
        if os.environ.get("VIDEOGUARD_DEBUG"):
            raise
        typer.echo(f"videoguard: internal error: {one_line(exc)}", err=True)
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
