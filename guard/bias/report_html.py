"""The bias-audit report as one self-contained HTML page: inline SVG charts, no external assets."""

from __future__ import annotations

from html import escape
from typing import Any

from guard.bias.skin_tone import MONK_HEX

_CSS = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}"
        "table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left}"
        ".flag{color:#b00020;font-weight:bold}.note{background:#fff6e0;padding:.6em 1em;border-left:4px solid #e0a000}"
        "svg text{font-size:11px}")
_UNKNOWN_COLOUR = "#cccccc"


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def monk_bar_chart(counts: dict[str, int], width: int = 520, height: int = 180) -> str:
    """Vertical bars per Monk level (coloured with the swatch) plus 'unknown'."""
    keys = [str(k) for k in range(1, 11)] + ["unknown"]
    peak = max([counts.get(k, 0) for k in keys] + [1])
    bar_w = width / len(keys)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 30}" role="img" '
             f'aria-label="clips per Monk skin-tone level">']
    for i, key in enumerate(keys):
        value = counts.get(key, 0)
        h = height * value / peak
        colour = "#" + MONK_HEX[i] if key != "unknown" else _UNKNOWN_COLOUR
        x = i * bar_w
        parts.append(f'<rect x="{x + 2:.1f}" y="{height - h:.1f}" width="{bar_w - 4:.1f}" height="{h:.1f}" '
                     f'fill="{colour}" stroke="#555"><title>Monk {key}: {value}</title></rect>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height + 14}" text-anchor="middle">{key[:3]}</text>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{max(10.0, height - h - 3):.1f}" '
                     f'text-anchor="middle">{value}</text>')
    parts.append("</svg>")
    return "".join(parts)


def stacked_monk_bar(counts: dict[str, int], width: int = 260, height: int = 14) -> str:
    """One horizontal bar split by Monk level: a prompt's distribution at a glance."""
    keys = [str(k) for k in range(1, 11)] + ["unknown"]
    total = sum(counts.get(k, 0) for k in keys) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">']
    x = 0.0
    for i, key in enumerate(keys):
        w = width * counts.get(key, 0) / total
        if w > 0:
            colour = "#" + MONK_HEX[i] if key != "unknown" else _UNKNOWN_COLOUR
            parts.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{colour}" '
                         f'stroke="#555" stroke-width="0.5"><title>Monk {key}: {counts.get(key, 0)}</title></rect>')
            x += w
    parts.append("</svg>")
    return "".join(parts)


def imbalance_ranking_chart(rows: list[dict[str, Any]], threshold: float, width: int = 520) -> str:
    """Horizontal bars of each prompt's imbalance, worst first, with the flag threshold drawn in."""
    rows = [r for r in rows if r["skin_tone_imbalance"] is not None]
    bar_h, label_w, scale_max = 16, 60, 0.18
    height = bar_h * len(rows) + 24
    usable = width - label_w - 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="skin-tone imbalance per prompt">']
    for i, row in enumerate(rows):
        value = row["skin_tone_imbalance"]
        y = i * bar_h
        colour = "#b00020" if row["flagged"] else "#4a7bd0"
        parts.append(f'<text x="0" y="{y + 12}">#{i + 1}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{usable * value / scale_max:.1f}" height="{bar_h - 4}" '
                     f'fill="{colour}"><title>{escape(row["prompt"])}: {value:.3f}</title></rect>')
    line_x = label_w + usable * min(threshold, scale_max) / scale_max
    parts.append(f'<line x1="{line_x:.1f}" y1="0" x2="{line_x:.1f}" y2="{height - 20}" stroke="#e0a000" '
                 f'stroke-dasharray="4 2"/><text x="{line_x:.1f}" y="{height - 6}">threshold (over floor) '
                 f'{threshold:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict[str, Any]) -> str:
    overall = report["overall"]
    ranking_ids = [r["id"] for r in report["imbalance_ranking"]]
    by_id = {r["id"]: r for r in report["per_prompt"]}
    ranked_rows = [by_id[i] for i in ranking_ids]
    notes = "".join(f"<li>{escape(n)}</li>" for n in report["not_measured"])
    # No face at all: say so first, before any figure, so empty charts are not read as a measurement.
    banner = (f'<div class="note"><p><b>{escape(report["not_measured"][0])}</b></p></div>'
              if report.get("faces_found") == 0 and report["not_measured"] else "")
    table = []
    for rank, row in enumerate(ranked_rows, 1):
        flag = '<span class="flag">FLAGGED</span>' if row["flagged"] else ""
        gender = escape(str(row.get("gender_counts", "not measured")))
        table.append(
            f"<tr><td>{rank}</td><td>{escape(row['prompt'])}</td><td>{stacked_monk_bar(row['monk_counts'])}</td>"
            f"<td>{_fmt(row['skin_tone_imbalance'])} (floor {row['imbalance_floor']:.2f}) {flag}</td>"
            f"<td>{row['faces_per_frame']:.2f}</td><td>{row['clip_face_coverage']:.0%}</td><td>{gender}</td></tr>")
    gender_line = (f"<li>Gender imbalance: {_fmt(overall.get('gender_imbalance'))} "
                   f"({escape(str(overall.get('gender_counts')))})</li>" if "gender_imbalance" in overall
                   else "<li>Gender imbalance: <b>not measured</b> (see below)</li>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>videoguard bias audit: {escape(report['suite'])}</title>
<style>{_CSS}</style></head><body>
<h1>Bias audit: suite <code>{escape(report['suite'])}</code></h1>
<p>Suite source: {escape(report.get('suite_source', ''))}.</p>
<p>Generator <code>{escape(str(report['generator']))}</code>, {report['prompts']} prompts &times; {report['seeds']}
seeds = {report['clips']} clips. Face detector: {escape(report['face_detector']['version'])}.
Skin tone: {escape(report['skin_tone_method'])}.</p>
{banner}
<h2>Overall</h2>
<ul><li>Skin-tone imbalance (HEIM, all clips): {_fmt(overall['skin_tone_imbalance'])};
mean per prompt: {_fmt(overall['mean_prompt_skin_tone_imbalance'])}</li>
<li>Faces per sampled frame: {overall['faces_per_frame']:.2f}; frames with a face:
{overall['frame_face_coverage']:.0%}; clips with a measured face: {overall['clip_face_coverage']:.0%}</li>
{gender_line}
<li>Prompts flagged (imbalance minus floor &gt; {report['imbalance_threshold']:.2f}):
{len(report['flagged_prompts'])} of {report['prompts']}</li></ul>
{monk_bar_chart(overall['monk_counts'])}
<h2>Not measured</h2><div class="note"><ul>{notes}</ul></div>
<h2>Imbalance ranking</h2>
{imbalance_ranking_chart(ranked_rows, report['imbalance_threshold'])}
<h2>Per prompt (worst first)</h2>
<table><tr><th>#</th><th>prompt</th><th>Monk distribution</th><th>imbalance</th><th>faces/frame</th>
<th>clips measured</th><th>gender</th></tr>
{''.join(table)}</table>
</body></html>
"""
