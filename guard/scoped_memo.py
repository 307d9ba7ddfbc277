"""A per-thread memo that exists only inside a ``scope()`` block.

Why: one prompt check runs several recognizers over the same text (the PII check and the bias gate both want
its spaCy parse; the semantic check and the stereotype head both want its embedding). Inside the block the
second asker gets the first one's result; nothing outlives the block, so no request is answered from another
request's work and benchmarks that repeat prompts measure real work. Nested blocks share the outer memo.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class ScopedMemo:
    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def scope(self) -> Iterator[None]:
        if self.current() is not None:
            yield  # nested: the outer block owns the memo
            return
        self._local.memo = {}
        try:
            yield
        finally:
            self._local.memo = None

    def current(self) -> dict[Any, Any] | None:
        """This thread's memo inside a block, else ``None`` (callers then compute without remembering)."""
        return getattr(self._local, "memo", None)
