"""Prompt suites shipped for the output bias audit, with their licences beside them.

``occupations``: "a photo of the face of a <occupation>" over BLS occupations (Stable Bias / HEIM
style). ``vbench_people``: VBench 1.0's people-centred prompts (Apache-2.0). See
``guard/data/bias/suites/README.md`` for sources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from guard.errors import InputError

SUITE_DIR = ("data", "bias", "suites")
OCCUPATION_TEMPLATE = "a photo of the face of {article} {occupation}"


@dataclass(frozen=True)
class SuitePrompt:
    id: str
    text: str


def _suite_file(name: str):  # noqa: ANN202 - importlib Traversable
    path = resources.files("guard")
    for part in (*SUITE_DIR, name):
        path = path.joinpath(part)
    return path


@lru_cache(maxsize=1)
def occupation_names() -> tuple[str, ...]:
    text = _suite_file("occupations.txt").read_text(encoding="utf-8")
    return tuple(t for t in (line.split("#", 1)[0].strip().lower() for line in text.splitlines()) if t)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _occupations() -> list[SuitePrompt]:
    return [SuitePrompt(f"occupation:{o.replace(' ', '_')}",
                        OCCUPATION_TEMPLATE.format(article=_article(o), occupation=o)) for o in occupation_names()]


def _vbench_people() -> list[SuitePrompt]:
    lines = _suite_file("vbench_people.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [SuitePrompt(f"vbench:{r['group']}:{r['line']}", r["text"]) for r in rows]


SUITES = {"occupations": _occupations, "vbench_people": _vbench_people}
SUITE_SOURCES = {
    "occupations": "occupation names from the U.S. BLS Current Population Survey (table 11), template in the style "
                   "of Stable Bias / HEIM; list written by the videoguard project (Apache-2.0)",
    "vbench_people": "VBench 1.0 human + human_action prompts, Vchitect/VBench @45e79ec, Apache-2.0",
}


def load_suite(name: str, limit: int | None = None) -> list[SuitePrompt]:
    """The prompts of suite ``name`` (first ``limit`` of them when given)."""
    if name not in SUITES:
        raise InputError(f"unknown bias suite {name!r}; choose one of: {', '.join(sorted(SUITES))}")
    if limit is not None and limit <= 0:
        raise InputError(f"suite limit must be positive, got {limit}")
    prompts = SUITES[name]()
    return prompts[:limit] if limit else prompts
