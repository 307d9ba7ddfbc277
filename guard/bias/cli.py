"""``videoguard audit``: ``prompts`` (what the bias gate saw, from the ledger) and ``bias`` (run a
prompt suite through a generator and measure the people it makes). The lead mounts ``audit_app``
in ``guard/cli.py``; commands are thin wrappers over ``guard.bias``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # the output audit pulls in image libraries: imported only when `audit bias` runs
    from guard.bias.output_audit import GenderClassifier

from guard.bias.prompt_audit import audit_prompts
from guard.bias.settings import bias_settings
from guard.bias.suites import SUITE_SOURCES, SUITES, load_suite
from guard.errors import InputError, VideoguardError
from guard.paths import writable_base
from guard.policy import load_policy

audit_app = typer.Typer(help="Bias audits: of the prompts the gate saw, and of what a generator makes.",
                        no_args_is_help=True)
REPORT_JSON, REPORT_HTML = "report.json", "report.html"


def _progress(done: int, total: int) -> None:
    sys.stderr.write(f"\rgenerated and measured {done}/{total} clips")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _fail(exc: VideoguardError) -> None:
    typer.echo(f"videoguard: error: {str(exc).splitlines()[0]}", err=True)  # as every other command
    raise typer.Exit(exc.exit_code)


def _policy_path(ctx: typer.Context) -> Path | None:
    root = ctx.find_root()
    return (root.params or {}).get("policy") if root is not None else None


@audit_app.command("prompts")
def prompts_command(
    ctx: typer.Context,
    ledger: Annotated[Path | None, typer.Option("--ledger", envvar="VIDEOGUARD_LEDGER",
                                                help="Ledger database (default: the state directory's).")] = None,
) -> None:
    """Share of prompts depicting people, diversifications and their words, stereotype prompts stopped.

    Example: videoguard audit prompts > prompt_audit.json
    """
    try:
        from guard.ledger import Ledger

        if ledger is not None and not ledger.exists():
            raise InputError(f"ledger not found: {ledger}")
        report = audit_prompts(Ledger(ledger).rows())
    except VideoguardError as exc:
        _fail(exc)
    sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")


def load_generator(policy: Any, model: str | None) -> tuple[Any, str]:
    """The generator callable: ``guard.generator_stage.build_generator(policy, model)``."""
    name = model or str(policy.generator.settings.get("model", "bundled"))
    try:
        factory = importlib.import_module("guard.generator_stage").build_generator
    except (ImportError, AttributeError) as exc:
        raise InputError(f"no generator available (guard.generator_stage.build_generator: {exc})") from exc
    generator = factory(policy, model) if model else factory(policy)
    return generator, str(getattr(generator, "name", name))


def load_gender_classifier(spec: str | None) -> GenderClassifier | None:
    """``module:callable`` from the policy, taking a face crop (h, w, 3) uint8 and returning a label."""
    if not spec:
        return None
    module, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise InputError(f"gender classifier {spec!r} did not load: {exc}") from exc


def check_report_dir(out_dir: Path, force: bool) -> None:
    """Refuse a report directory the report cannot be written to, before the audit's generation runs."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"report directory {out_dir} is not a directory")
    if not force and ((out_dir / REPORT_JSON).exists() or (out_dir / REPORT_HTML).exists()):
        raise InputError(f"{out_dir} already holds a report; pass --force to overwrite")
    writable_base(out_dir, f"report directory {out_dir}")


def write_report(report: dict[str, Any], out_dir: Path, force: bool) -> tuple[Path, Path]:
    from guard.bias.report_html import render_html

    json_path, html_path = out_dir / REPORT_JSON, out_dir / REPORT_HTML
    check_report_dir(out_dir, force)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, text in ((json_path, json.dumps(report, indent=1, ensure_ascii=False)), (html_path, render_html(report))):
        tmp = path.with_name(f".{path.name}.part")  # write then rename: never a half-written report
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return json_path, html_path


@audit_app.command("bias")
def bias_command(
    ctx: typer.Context,
    suite: Annotated[str, typer.Option("--suite", help=f"Prompt suite: {', '.join(SUITES)}.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Report directory (report.json, report.html).")],
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Clips per prompt (seeds 0..N-1).")] = 4,
    generator: Annotated[str | None, typer.Option("--generator", help="Local diffusers pipeline directory "
                                                  "(default: the policy's model, 'bundled').")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N prompts.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Inference steps.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing report.")] = False,
) -> None:
    """Run a prompt suite through a generator; report faces, Monk skin tone and HEIM imbalance.

    Example: videoguard audit bias --suite occupations --seeds 8 -o reports/occupations
    """
    from guard.bias.output_audit import run_output_audit

    try:
        check_report_dir(out, force)  # before the generation: an unwritable report would lose the whole run
        policy = load_policy(_policy_path(ctx))
        settings = bias_settings(policy).audit
        prompts = load_suite(suite, limit)
        gender = load_gender_classifier(settings.gender_classifier)
        make, name = load_generator(policy, generator)
        report = run_output_audit(prompts, make, seeds, settings, suite=suite, generator_name=name,
                                  gender_classifier=gender, num_inference_steps=steps,
                                  progress=_progress if sys.stderr.isatty() else None)
        report["suite_source"] = SUITE_SOURCES.get(suite, "")
        json_path, html_path = write_report(report, out, force)
    except VideoguardError as exc:
        _fail(exc)
    sys.stdout.write(json.dumps({"report_json": str(json_path), "report_html": str(html_path),
                                 "overall": report["overall"], "flagged_prompts": report["flagged_prompts"],
                                 "not_measured": report["not_measured"]}, ensure_ascii=False) + "\n")
