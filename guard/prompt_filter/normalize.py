"""Prompt normalization: undo the cheap tricks people use to slip words past a filter.

Every check sees the normalized text, so ``𝐧𝐮𝐝𝐞``, ``nսde`` (Armenian u), ``n\u200bude``, ``n.u.d.e``,
``n u d e``, ``nuuude`` and ``NUD3`` all become ``nude`` before a wordlist or a classifier looks at them.
The original text is kept beside it: the normalized form is for deciding, never for generating.

Steps, in order (each one undoes what the previous would hide):
1. Unicode NFKC (fullwidth, mathematical bold/italic letters, ligatures, superscripts).
2. Zero-width, bidi and other format/control characters removed; diacritics on Latin letters dropped.
3. Confusable folding: Cyrillic, Greek and other letters that look Latin are mapped to the Latin letter.
4. Case folding.
5. Separator tricks joined: runs of single characters split by spaces, dots, dashes, ... (``n.u.d.e``).
6. Leetspeak inside words (``s3x``, ``p0rn``, ``$lut``), but not tech tokens (``4k``, ``1080p``, ``3d``).
7. Runs of three or more identical letters collapsed to one (``nuuude``); the text before this step
   is kept as ``uncollapsed`` because some real terms have repeats (``xxx``).

``corrected`` is what the semantic classifier reads: the same steps, except that a run of letters split by
spaces stops before the first letter of a word split another way (``d r i f t t-h-e-n`` -> ``drift then``,
not ``driftt hen``), followed by spelling repair (``spelling.py``: ``nakde`` -> ``naked``, ``nudewoman`` ->
``nude woman``). ``normalized`` stays as it was, because the fixed train/val/test split is a hash of it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from guard.prompt_filter.spelling import repair

VERSION = "2"

# Letters from other scripts that render like Latin ones (subset of Unicode confusables.txt, the ones seen
# in filter-evasion lists: Cyrillic, Greek, Armenian, Cherokee-free). Uppercase forms are covered because
# folding runs after casefold as well as before.
_CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "һ": "h", "ԁ": "d", "ԛ": "q",
    "ԝ": "w", "ɡ": "g", "ү": "y", "ӏ": "l", "ь": "b", "п": "n", "г": "r", "и": "u", "л": "n", "ф": "o",
    # Greek
    "α": "a", "β": "b", "γ": "y", "δ": "d", "ε": "e", "ζ": "z", "η": "n", "ι": "i", "κ": "k", "ν": "v",
    "ο": "o", "ρ": "p", "σ": "o", "ς": "s", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "μ": "u",
    # Armenian and others
    "ս": "u", "օ": "o", "ո": "n", "հ": "h", "ց": "g", "զ": "q", "ɑ": "a", "ı": "i", "ȷ": "j", "ʀ": "r",
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k",
    "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w",
    "ʏ": "y", "ᴢ": "z", "ℓ": "l", "∂": "d",
}
_CONFUSABLE_TABLE = str.maketrans(_CONFUSABLES)

_LEET: dict[str, str] = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
    "@": "a", "$": "s", "!": "i", "|": "l", "+": "t", "€": "e", "£": "l",
}
_LEET_TABLE = str.maketrans(_LEET)
_LEET_CHARS = "".join(re.escape(c) for c in _LEET)

# Tokens that mix digits and letters legitimately in video prompts: 4k, 1080p, 3d, 60fps, 1920s, h264, mp4.
_TECH_TOKEN = re.compile(r"^(?:\d+[a-z]{0,3}|[a-z]{1,2}\d+|\d+(?:st|nd|rd|th))$")
_TOKEN = re.compile(rf"[\w{_LEET_CHARS}]+")
# A run of >= 3 single characters separated by 1-3 separator characters: "n.u.d.e", "n u d e", "n-u-d-e".
_SEP = r"[\s._\-*·•/\\,:;~^]{1,3}"
_UNIT = rf"[^\W_]|[{_LEET_CHARS}]"
_SPLIT_WORD = re.compile(rf"(?<![^\W_])(?:{_UNIT})({_SEP})(?:{_UNIT})(?![^\W_])(?:\1(?:{_UNIT})(?![^\W_]))+")
# For ``corrected``: space-separated runs whose letters are not followed by another separator and a letter
# ("t" in "d r i f t t-h-e-n" belongs to "then"); then the runs split by other separators.
_NON_SPACE_SEP = r"[._\-*·•/\\,:;~^]{1,3}"
_OWN = rf"(?![^\W_])(?!{_NON_SPACE_SEP}(?:{_UNIT}))"
_SPLIT_BY_SPACES = re.compile(rf"(?<![^\W_])(?<![^\W_][._\-*·•/\\,:;~^])(?:{_UNIT}){_OWN}(\s{{1,3}})(?:{_UNIT}){_OWN}"
                              rf"(?:\1(?:{_UNIT}){_OWN})+")
_SPLIT_OTHERWISE = re.compile(
    rf"(?<![^\W_])(?:{_UNIT})({_NON_SPACE_SEP})(?:{_UNIT})(?![^\W_])(?:\1(?:{_UNIT})(?![^\W_]))+")
_SEP_ONLY = re.compile(_SEP)
_REPEATS = re.compile(r"([a-z])\1{2,}")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class NormalizedPrompt:
    """The text as the user sent it and the forms the checks read."""

    original: str
    normalized: str  # what wordlists and rules read (and the split hashes)
    uncollapsed: str  # normalized, before repeated letters were collapsed
    corrected: str  # what the semantic classifier reads: normalized with split words and misspellings repaired

    @property
    def words(self) -> list[str]:
        return re.findall(r"[a-z0-9]+", self.normalized)


def _strip_invisible_and_marks(text: str) -> str:
    """Drop format/control characters and combining marks that sit on Latin letters."""
    if text.isascii() and text.isprintable():
        return text  # printable ASCII has no such characters and NFKD/NFC leave it as it is: skip the loop
    out: list[str] = []
    previous_latin = False
    for char in unicodedata.normalize("NFKD", text):
        category = unicodedata.category(char)
        if char in "\n\t\r":
            out.append(" ")
            previous_latin = False
        elif category in ("Cf", "Cc", "Co", "Cs", "Cn") or 0xFE00 <= ord(char) <= 0xFE0F:
            continue  # zero-width joiners, bidi overrides, variation selectors, soft hyphen, controls
        elif category == "Mn" and previous_latin:
            continue  # "nüde" -> "nude"
        else:
            out.append(char)
            previous_latin = char.isascii() and char.isalpha()
    return unicodedata.normalize("NFC", "".join(out))


def _deleet_token(token: str) -> str:
    """``s3x`` -> ``sex``; keeps numbers and tech tokens (``4k``, ``1080p``) and trailing punctuation."""
    core = token.rstrip("!|+")
    tail = token[len(core):]
    has_letter = any(c.isalpha() for c in core)
    has_leet = any(c in _LEET for c in core)
    if not has_letter or not has_leet or _TECH_TOKEN.match(core):
        return token
    return core.translate(_LEET_TABLE) + tail


def _join_run(run: str) -> str:
    """``n.u.d.e`` -> ``nude``; a leading article stays a word: ``a n u d e`` -> ``a nude``."""
    if run[0] in "ai" and run[1].isspace() and len(run) >= 7:
        return run[0] + " " + _SEP_ONLY.sub("", run[2:].lstrip())
    return _SEP_ONLY.sub("", run)


def _join_split_words(text: str) -> str:
    return _SPLIT_WORD.sub(lambda m: _join_run(m.group(0)), text)


def _join_split_words_carefully(text: str) -> str:
    """Letters joined without the article guess: spelling repair splits ``anude`` or ``writea`` itself."""
    text = _SPLIT_BY_SPACES.sub(lambda m: _SEP_ONLY.sub("", m.group(0)), text)
    return _SPLIT_OTHERWISE.sub(lambda m: _SEP_ONLY.sub("", m.group(0)), text)


def _deleet_and_collapse(text: str) -> tuple[str, str]:
    """Steps 6 and 7: (uncollapsed, collapsed)."""
    folded = _TOKEN.sub(lambda m: _deleet_token(m.group(0)), text)
    uncollapsed = _SPACES.sub(" ", folded).strip()
    return uncollapsed, _REPEATS.sub(r"\1", uncollapsed)


@lru_cache(maxsize=4096)
def normalize(text: str) -> NormalizedPrompt:
    """Normalize one prompt (cached: the same prompt is often checked by several checks and retried)."""
    folded = unicodedata.normalize("NFKC", text)  # 1.
    folded = _strip_invisible_and_marks(folded)  # 2.
    folded = folded.translate(_CONFUSABLE_TABLE)  # 3. (lowercase confusables)
    folded = folded.casefold().translate(_CONFUSABLE_TABLE)  # 4. then uppercase ones, now lowercased
    uncollapsed, collapsed = _deleet_and_collapse(_join_split_words(folded))  # 5., 6., 7.
    corrected = repair(_deleet_and_collapse(_join_split_words_carefully(folded))[1])
    return NormalizedPrompt(original=text, normalized=collapsed, uncollapsed=uncollapsed, corrected=corrected)
