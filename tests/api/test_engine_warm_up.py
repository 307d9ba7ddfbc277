"""Warm-up leaves the loaded models outside the garbage collector's view (``gc.freeze``), so full collections
during serving do not walk millions of model objects and stall requests (see benchmarks/RESULTS.md, issue 8)."""

from __future__ import annotations

import gc

from guard.api.engine import Engine
from guard.policy import default_policy


def test_when_the_engine_has_warmed_up_then_the_loaded_objects_are_frozen() -> None:
    gc.unfreeze()
    engine = Engine(default_policy())
    try:
        engine.warm_up()
        assert engine.error is None
        assert engine.ready
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
