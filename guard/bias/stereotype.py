"""The stereotype-harm recognizer: a protected group tied to crime, violence, disease, poverty,
terrorism, stupidity and the like, including "a typical X" generalizations and group comparisons.

Rule: a protected-group mention and a harm-theme term in the same prompt, where the harm term is not
negated ("are not criminals") and the prompt does not read as reporting on or opposing the
stereotype ("violence against Muslims", "stereotypes about ..."). Comparisons ("X are smarter than
Y") are a harm theme of their own (``supremacy``). Every finding names the group, the theme and
the words, so a block can be explained.

Second signal (optional, ``head=``): when the rule finds nothing, a logistic-regression head over the
MiniLM sentence embedding (``stereotype_head.py``) catches paraphrase the lexicons cannot list ("they
come here to live on our taxes"); its finding reports the score and threshold, and the group words when
any are known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from guard.bias.lexicons import Lexicon, Match, lexicon, load_themes
from guard.bias.recognizers import _adjacent_to_person, lexicon_terms
from guard.bias.stereotype_head import StereotypeHead

HARM_THEMES_FILE = "harm_themes.yaml"
GROUP_LEXICONS = ("groups.txt", "ethnicity.txt", "religion.txt", "disability.txt")
_NEGATIONS = frozenset({"not", "no", "never", "neither", "nor", "isn't", "aren't", "isnt", "arent", "don't",
                        "dont", "doesn't", "doesnt"})
_NEGATIONS_ADJACENT = frozenset({"without", "less", "non"})
_GENERALIZATION = re.compile(
    r"\b(?:a|the) typical\b|\ball (?:of )?(?:the|them|those)?\b|\bevery\b|\bthey(?:'re| are) all\b|"
    r"\bare (?:all|always|naturally|inherently|just|so|too)\b|\balways\b|\bby nature\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class StereotypeFinding:
    """The recognizer's result: ``found`` plus the group words, harm themes and harm words behind it."""

    recognizer: str
    found: bool
    groups: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    generalization: bool = False
    explanation: str = ""
    head_score: float | None = None  # the semantic head's logit, when it was consulted
    head_threshold: float | None = None

    def to_evidence(self) -> dict[str, object]:
        evidence: dict[str, object] = {
            "found": self.found, "groups": list(self.groups), "themes": list(self.themes), "terms": list(self.terms),
            "generalization": self.generalization, "reason": self.explanation}
        if self.head_score is not None:
            evidence.update(head_score=round(self.head_score, 3), head_threshold=round(self.head_threshold or 0.0, 3))
        return evidence


@lru_cache(maxsize=1)
def _theme_lexicons() -> dict[str, Lexicon]:
    return {theme: Lexicon(terms) for theme, terms in load_themes(HARM_THEMES_FILE).items()}


# Question forms (``question_forms=True``, policy ``bias.settings.stereotype_question_forms``; on in the default
# policy since the eleventh session, see benchmarks/RESULTS.md issue 7):
# 1. national origin said with a place name: "people from Belarus", "everyone from Bahrain", "a person from Bangui".
#    The place must be capitalized (a proper noun), so "people from work" / "people from the city" do not count.
_FROM_PLACE = re.compile(r"\b(?i:people|persons?|everyone|everybody|anyone|anybody|men|women|folks|immigrants|"
                         r"migrants|refugees)\s+from\s+(?:the\s+)?[A-Z][\w\-]+(?:\s+[A-Z][\w\-]+)*")


def _group_mentions(text: str, from_place: bool = False) -> list[Match]:
    """Protected-group mentions (lexicons; with ``from_place``, also "people from <Place>")."""
    hits: list[Match] = []
    for name in GROUP_LEXICONS:
        hits.extend(lexicon(name).find(text))
    hits.extend(m for m in lexicon("skin_colour_words.txt").find(text) if _adjacent_to_person(text, m, 0))
    if from_place:
        hits.extend(Match(m.group(0).lower(), m.start(), m.end()) for m in _FROM_PLACE.finditer(text)
                    if not any(h.start < m.end() and m.start() < h.end for h in hits))
    return hits


# 2. a question opened by a negative auxiliary asks to confirm the claim, it does not deny it: "Aren't all X
#    violent?", "Isn't X naturally violent?". The opening word is not a negation of what follows.
_NEGATIVE_QUESTION = re.compile(r"^\W*(aren'?t|isn'?t|don'?t|doesn'?t|wasn'?t|weren'?t|didn'?t)\b[^?]*\?\W*$",
                                re.IGNORECASE)


def _negated(text: str, match: Match, questions: bool = False) -> bool:
    window_start = max(0, match.start - 60)
    question = _NEGATIVE_QUESTION.match(text) if questions else None
    if question and question.end(1) <= match.start:
        window_start = max(window_start, question.end(1))
    before = re.findall(r"[\w'\-]+", text[window_start: match.start].lower())[-4:]
    negated = bool(_NEGATIONS & set(before)) or bool(before and before[-1] in _NEGATIONS_ADJACENT)
    return negated and not match.term.startswith(("not ", "no ", "never "))


_COMPARISON = re.compile(
    r"\b(?:worse|better|smarter|dumber|stupider|lazier|dirtier|uglier|poorer|more (?:violent|dangerous|"
    r"intelligent|criminal|civilized|advanced)|less (?:intelligent|civilized|capable|advanced)|inferior|"
    r"superior)\b[\w\s\-]{0,30}?\b(?:than|to)\b", re.IGNORECASE)
_DISABILITY_GROUPS = frozenset({"the mentally ill", "people with mental illness", "people with mental illnesses",
                                "the disabled", "disabled people", "people with disabilities", "cripple", "cripples",
                                "crippled"})
# Themes whose words are ordinary nouns in literal use ("taking out the trash", "feeding the monkeys"): they
# count only when linked to the group as a predicate or simile ("immigrants are rats", "like cockroaches").
PREDICATE_ONLY_THEMES = frozenset({"dehumanization"})
_LINK = re.compile(r"\b(?:are|is|were|was|be|been|being|like|as|such|become|becomes|'re|re)\b", re.IGNORECASE)


def _linked(text: str, group_spans: list[tuple[int, int]], hit: Match, max_words: int = 7) -> bool:
    """A linking word ("are", "like", ...) between a group mention and ``hit``, within ``max_words``."""
    for start, end in group_spans:
        if end <= hit.start:
            between = text[end:hit.start]
        elif hit.end <= start:
            between = text[hit.end:start]
        else:
            continue
        if len(re.findall(r"[\w'\-]+", between)) <= max_words and _LINK.search(between):
            return True
    return False


def _countered(text: str, group_spans: list[tuple[int, int]], hit: Match) -> bool:
    """"a Black police officer arresting a thief": a counter verb between every preceding group mention and
    the harm word means the harm is acted against, not ascribed to the group."""
    before = [end for start, end in group_spans if end <= hit.start]
    if not before:
        return False
    return all(lexicon("counter_verbs.txt").find(text[end:hit.start]) for end in before)


_PASSIVE = frozenset({"were", "was", "been", "being", "getting", "get", "got", "gets"})
_PRONOUN_REFERENCE = re.compile(r"\b(?:they|them|their|theirs|these people|those people|he|she|his|her)\b",
                                re.IGNORECASE)


def _passive(text: str, match: Match, from_place: bool = False) -> bool:
    """Victim framing: "were killed", "getting murdered" report harm done *to* the group."""
    if not re.search(r"\w(?:ed|en|wn)\b", match.term):
        return False  # "being a terrorist" is not passive
    # six words back: "getting murdered, kidnapped, or assaulted"
    before = re.findall(r"[\w'\-]+", text[max(0, match.start - 80): match.start].lower())[-6:]
    by_the_group = re.match(r"\s+by\s+(?:the\s+|those\s+|these\s+)?\w", text[match.end:], re.IGNORECASE)
    if by_the_group and _group_mentions(text[match.end:match.end + 40], from_place):
        return False  # "destroyed by the immigrants": the group is the agent
    return bool(_PASSIVE & set(before))


def _sentences_with_referents(text: str, from_place: bool = False) -> list[str]:
    """Sentences, each prefixed with the group words of the previous one when it refers back with
    "they"/"them" ("... the immigrants. They steal ...")."""
    sentences = [s for s in re.split(r"(?<=[.!?;])\s+|\n+", text) if s.strip()]
    out: list[str] = []
    for i, sentence in enumerate(sentences):
        if i and _PRONOUN_REFERENCE.search(sentence):
            carried = " ".join(m.term for m in _group_mentions(sentences[i - 1], from_place))
            sentence = f"{carried} :: {sentence}" if carried else sentence
        out.append(sentence)
    return out


class StereotypeRecognizer:
    """The lexicon rule, plus the semantic head when one is given (version "2": rule OR head); with
    ``question_forms``, the rule also reads "Aren't all X violent?" and "people from <Place>" (suffix "q")."""

    name = "stereotype"

    def __init__(self, head: StereotypeHead | None = None, question_forms: bool = False) -> None:
        self.head = head
        self.question_forms = question_forms
        self.version = ("1" if head is None else "2") + ("q" if question_forms else "")

    def recognize(self, text: str) -> StereotypeFinding:
        """The rule's finding when it fires; otherwise, with a head, the head's decision."""
        finding = self.recognize_rule(text)
        if finding.found or self.head is None:
            return finding
        return self.recognize_head(text, finding)

    def recognize_head(self, text: str, rule_finding: StereotypeFinding) -> StereotypeFinding:
        """The semantic head on ``text`` (call after the rule found nothing; ``rule_finding`` lends group words)."""
        if self.head is None:
            return rule_finding
        score = float(self.head.score([text])[0])
        found = score >= self.head.threshold
        groups = rule_finding.groups
        about = f" about {', '.join(groups)}" if groups else ""
        words = self.head.ngrams.top_terms(text) if found and self.head.ngrams is not None else []
        raised = f"; words that raised it: {', '.join(words)}" if words else ""
        explanation = (f"semantic head: stereotype-harm score {score:.2f} >= {self.head.threshold:.2f}{about} "
                       f"(no lexicon harm word; a paraphrase{raised})" if found else rule_finding.explanation)
        return StereotypeFinding(self.name, found, groups, ("semantic",) if found else rule_finding.themes,
                                 rule_finding.terms, rule_finding.generalization, explanation, score,
                                 self.head.threshold)

    def recognize_rule(self, text: str) -> StereotypeFinding:
        """The lexicon rule alone (group + harm theme, negation, victim and counter framing)."""
        findings = [self._recognize_sentence(s) for s in _sentences_with_referents(text, self.question_forms)]
        hits = [f for f in findings if f.found]
        if hits:
            return hits[0]
        return next((f for f in findings if f.groups), findings[0] if findings else
                    StereotypeFinding(self.name, False, explanation="empty prompt"))

    def _recognize_sentence(self, text: str) -> StereotypeFinding:
        q = self.question_forms
        groups = _group_mentions(text, q)
        if not groups:
            return StereotypeFinding(self.name, False, explanation="no protected group mentioned")
        counter = lexicon("counter_cues.txt").find(text)
        group_spans = [(g.start, g.end) for g in groups]
        group_words = [g.term for g in groups]
        disability = lexicon_terms("disability.txt") | _DISABILITY_GROUPS
        themes: dict[str, list[str]] = {}
        for theme, lex in _theme_lexicons().items():
            for hit in lex.find(text):
                overlapping = [(s, e) for s, e in group_spans if s < hit.end and hit.start < e]
                # "trans people are mentally ill": the harm term is itself a group word, said of another group.
                other_group = any(not (s < hit.end and hit.start < e) and term not in disability
                                  for (s, e), term in zip(group_spans, group_words, strict=True))
                if theme in PREDICATE_ONLY_THEMES and not _linked(text, group_spans, hit):
                    continue
                if _countered(text, group_spans, hit):
                    continue
                if (not overlapping or other_group) and not _negated(text, hit, q) and not _passive(text, hit, q):
                    themes.setdefault(theme, []).append(hit.term)
        group_terms = tuple(dict.fromkeys(g.term for g in groups))
        comparison = _COMPARISON.search(text)
        if comparison and len(group_terms) >= 2 and not _negated(
                text, Match(comparison.group(0), comparison.start(), comparison.end()), q):
            themes.setdefault("comparison", []).append(comparison.group(0).lower())
        generalization = bool(_GENERALIZATION.search(text))
        if not themes:
            return StereotypeFinding(self.name, False, group_terms, generalization=generalization,
                                     explanation=f"group mentioned ({', '.join(group_terms)}) with no harm theme")
        if counter:
            return StereotypeFinding(
                self.name, False, group_terms, tuple(themes), generalization=generalization,
                explanation=f"harm words appear but framed as reporting/opposing ({counter[0].term})")
        words = tuple(dict.fromkeys(t for ts in themes.values() for t in ts))
        kind = ("comparison" if "comparison" in themes else "generalization" if generalization
                else "association")
        return StereotypeFinding(
            self.name, True, group_terms, tuple(themes), words, generalization,
            f"{kind} of group ({', '.join(group_terms)}) with {', '.join(themes)} ({', '.join(words[:4])})")
