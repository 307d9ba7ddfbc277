"""Normalization undoes the cheap tricks and leaves ordinary prompts alone."""

from __future__ import annotations

import pytest

from guard.prompt_filter.normalize import normalize


@pytest.mark.parametrize(
    ("trick", "text"),
    [
        ("mathematical bold", "𝐧𝐮𝐝𝐞 woman"),
        ("fullwidth", "ｎｕｄｅ woman"),
        ("cyrillic homoglyphs", "nսdе woman"),
        ("greek homoglyph", "nudε woman"),
        ("zero-width space", "nu\u200bde woman"),
        ("zero-width joiner and soft hyphen", "n\u200du\u00adde woman"),
        ("bidi override", "\u202enude\u202c woman"),
        ("diacritics", "nüdé woman"),
        ("dots", "n.u.d.e woman"),
        ("spaces", "n u d e woman"),
        ("dashes", "n-u-d-e woman"),
        ("article before spaced letters", "a n u d e woman"),
        ("stretched letters", "nuuuude woman"),
        ("leetspeak", "nud3 woman"),
        ("upper case", "NUDE WOMAN"),
        ("leet and spacing", "n . u . d . 3 woman"),
    ],
)
def test_when_trick_then_normalized_reads_plain_word(trick: str, text: str) -> None:
    result = normalize(text)
    assert "nude" in result.normalized.split(), (trick, result.normalized)
    assert result.original == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A man in 4k, 1080p, 3D render at 60fps", "a man in 4k, 1080p, 3d render at 60fps"),
        ("The 1920s jazz club on 5th avenue", "the 1920s jazz club on 5th avenue"),
        ("wow! a cat", "wow! a cat"),
        ("A sheep grazing", "a sheep grazing"),
        ("Café au lait", "cafe au lait"),
        ("price: $5", "price: $5"),
    ],
)
def test_when_ordinary_prompt_then_only_case_and_accents_change(text: str, expected: str) -> None:
    assert normalize(text).normalized == expected


def test_when_repeats_collapsed_then_uncollapsed_form_kept() -> None:
    result = normalize("xxx video")
    assert result.uncollapsed == "xxx video"
    assert result.normalized == "x video"
