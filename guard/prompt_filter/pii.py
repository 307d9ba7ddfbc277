"""PII and likeness check: presidio-analyzer finds people's names, phone numbers, e-mails, card numbers
and street addresses; they are redacted from the prompt before it is logged or used.

A named real person is a likeness risk (deepfakes): the policy either blocks the prompt or rewrites the
name to a neutral description ("a person"). Other PII is always rewritten. Names used as an art style
("by Hokusai", "Van Gogh style") are not likeness and are left alone.

presidio runs on the original text (NER needs the casing); spaCy NER, the slow part, runs only when the
prompt has a capitalized word that could start a name, which keeps typical prompts at about 1 ms. The spaCy
model and each prompt's parse are shared with the bias gate (``guard.ner``). Two more shortcuts give the same
findings for less work: the phone recognizer (eight regions of ``phonenumbers`` parsing) runs only on text with
a digit, which every phone-number candidate starts with; and the token artifacts presidio's context scoring
reads are built only when a recognizer found something to score.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from guard.ner import SPACY_MODEL, ner_pipeline, parse_many
from guard.prompt_filter.normalize import NormalizedPrompt
from guard.verdict import Decision, Verdict

PATTERN_ENTITIES = ("PHONE_NUMBER", "EMAIL_ADDRESS", "CREDIT_CARD", "US_SSN", "IP_ADDRESS", "IBAN_CODE",
                    "STREET_ADDRESS")
# phonenumbers' matcher only considers candidates that contain a decimal digit (its pattern needs ``\d``).
_NO_PHONE_ENTITIES = tuple(e for e in PATTERN_ENTITIES if e != "PHONE_NUMBER")
_DIGIT = re.compile(r"\d")
NER_ENTITIES = ("PERSON",)
# What each entity becomes in the prompt passed on: neutral words, so the prompt still reads as a sentence.
REPLACEMENTS = {
    "PERSON": "a person", "PHONE_NUMBER": "a phone number", "EMAIL_ADDRESS": "an email address",
    "CREDIT_CARD": "a card number", "US_SSN": "an ID number", "IP_ADDRESS": "an IP address",
    "IBAN_CODE": "a bank account number", "STREET_ADDRESS": "a street address",
}
_STREET = (r"\b\d{1,5}\s+(?:[A-Z][a-z]+\.?\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln"
           r"|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Square|Sq)\b\.?")
# A capitalized word after the first word, or two capitalized words in a row: a name may be there.
_NAME_CANDIDATE = re.compile(r"(?:\S\s+[A-Z][a-z'\-]+)|(?:^[A-Z][a-z'\-]+\s+[A-Z][a-z])")
_STYLE_BEFORE = re.compile(r"(?:\bby|style of|manner of|inspired by|in the style|painted by|art by)\s*$", re.I)
_STYLE_AFTER = re.compile(r"^\s*(?:'s)?\s*(?:style|-style|inspired|painting|artwork)\b", re.I)


def _silence_tldextract() -> None:
    """presidio's e-mail recognizer calls tldextract, which would try the network: use the bundled list."""
    import tldextract
    import tldextract.tldextract as tld_module

    tld_module.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=1)
def presidio_analyzer() -> Any:
    """One analyzer per process (loading spaCy takes about 0.5 s), with only the recognizers we use."""
    _silence_tldextract()
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        SpacyRecognizer,
        UsSsnRecognizer,
    )

    # presidio's spaCy engine as NlpEngineProvider would build it, on the process's one NER pipeline (tok2vec +
    # ner only: 20% faster than the full pipeline, same entities) instead of a second copy of the model.
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": SPACY_MODEL}])
    engine.nlp = {"en": ner_pipeline()}
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (SpacyRecognizer(supported_entities=list(NER_ENTITIES)), PhoneRecognizer(),
                       EmailRecognizer(), CreditCardRecognizer(), UsSsnRecognizer(), IpRecognizer(),
                       IbanRecognizer()):
        registry.add_recognizer(recognizer)
    registry.add_recognizer(PatternRecognizer(supported_entity="STREET_ADDRESS", name="StreetAddressRecognizer",
                                              patterns=[Pattern("street address", _STREET, 0.6)]))
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])


class _LazyArtifacts:
    """presidio's ``NlpArtifacts`` of ``text`` (tokenized, no NER), built on first use.

    The pattern recognizers find matches without them; only context scoring reads tokens and lemmas, and only
    for a text where something was found. Every attribute read materializes the real artifacts, so whatever
    presidio reads is exactly what it would have got; most prompts never pay for tokenizing.
    """

    def __init__(self, engine: Any, text: str) -> None:
        self._engine = engine
        self._text = text

    def __getattr__(self, name: str) -> Any:  # only called for attributes not set yet
        if name.startswith("__"):
            raise AttributeError(name)
        real = self._engine._doc_to_nlp_artifact(ner_pipeline().make_doc(self._text), "en")
        self.__dict__.update(vars(real))
        return getattr(real, name)


@dataclass(frozen=True)
class Finding:
    entity: str
    start: int
    end: int
    score: float
    text: str


class PiiCheck:
    """Redacts PII; blocks or rewrites named people as the policy says (``likeness_action``)."""

    name = "pii"
    version = "1"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        settings = settings or {}
        self.likeness_action = Decision(settings.get("likeness_action", "rewrite"))
        if self.likeness_action not in (Decision.REWRITE, Decision.BLOCK, Decision.FLAG):
            raise ValueError(f"likeness_action must be rewrite, block or flag, got {self.likeness_action.value!r}")
        self.pii_min_score = float(settings.get("pii_min_score", 0.35))
        self.likeness_min_score = float(settings.get("likeness_min_score", 0.5))

    # -- analysis ---------------------------------------------------------------------------------------
    def _findings(self, text: str, results: Sequence[Any]) -> list[Finding]:
        findings = []
        for r in results:
            minimum = self.likeness_min_score if r.entity_type == "PERSON" else self.pii_min_score
            if r.score < minimum:
                continue
            if r.entity_type == "PERSON" and (_STYLE_BEFORE.search(text[: r.start]) or
                                              _STYLE_AFTER.match(text[r.end:])):
                continue  # an artist named as a style, not a depiction of the person
            findings.append(Finding(r.entity_type, r.start, r.end, float(r.score), text[r.start:r.end]))
        return _drop_overlaps(findings)

    def analyze(self, text: str) -> list[Finding]:
        return self.analyze_batch([text])[0]

    def analyze_batch(self, texts: Sequence[str]) -> list[list[Finding]]:
        """spaCy over the prompts that need NER (one ``nlp.pipe``, parses shared with the bias gate); the pattern
        recognizers alone for the rest."""
        analyzer = presidio_analyzer()
        engine = analyzer.nlp_engine
        needs_ner = [i for i, t in enumerate(texts) if _NAME_CANDIDATE.search(t)]
        docs = dict(zip(needs_ner, parse_many([texts[i] for i in needs_ner]), strict=True))
        out = []
        for i, text in enumerate(texts):
            patterns = PATTERN_ENTITIES if _DIGIT.search(text) else _NO_PHONE_ENTITIES
            if i in docs:
                entities, artifacts = [*NER_ENTITIES, *patterns], engine._doc_to_nlp_artifact(docs[i], "en")
            else:
                entities, artifacts = list(patterns), _LazyArtifacts(engine, text)
            results = analyzer.analyze(text, language="en", entities=entities, nlp_artifacts=artifacts)
            out.append(self._findings(text, results))
        return out

    # -- verdict ----------------------------------------------------------------------------------------
    def check(self, prompt: NormalizedPrompt) -> Verdict:
        return self.verdict(prompt, self.analyze(prompt.original))

    def check_batch(self, prompts: Sequence[NormalizedPrompt]) -> list[Verdict]:
        findings = self.analyze_batch([p.original for p in prompts])
        return [self.verdict(p, f) for p, f in zip(prompts, findings, strict=True)]

    def verdict(self, prompt: NormalizedPrompt, findings: list[Finding]) -> Verdict:
        text = prompt.original
        redacted = text
        for f in sorted(findings, key=lambda f: f.start, reverse=True):
            redacted = redacted[: f.start] + REPLACEMENTS[f.entity] + redacted[f.end:]
        people = [f for f in findings if f.entity == "PERSON"]
        other = [f for f in findings if f.entity != "PERSON"]
        scores = {"likeness": max((f.score for f in people), default=0.0),
                  "pii": max((f.score for f in other), default=0.0)}
        decisions = [Decision.ALLOW]
        reasons = []
        if people:
            decisions.append(self.likeness_action)
            verb = "blocked" if self.likeness_action is Decision.BLOCK else "replaced with 'a person'"
            reasons.append(f"likeness: named person {verb} ({len(people)} name(s))")
        if other:
            decisions.append(Decision.REWRITE)
            reasons.append("pii: redacted " + ", ".join(sorted({f.entity for f in other})))
        evidence = {"prompt": redacted, "entities": [{"entity": f.entity, "start": f.start, "end": f.end,
                                                      "score": round(f.score, 3)} for f in findings]}
        return Verdict(f"prompt.{self.name}", Decision.worst(decisions), scores, reasons, evidence=evidence)


def _drop_overlaps(findings: list[Finding]) -> list[Finding]:
    """Keep the highest-scoring finding where spans overlap (an e-mail is also a URL, a name in it...)."""
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda f: (-f.score, f.start)):
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)
