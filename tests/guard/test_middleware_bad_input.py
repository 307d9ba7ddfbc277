"""Bad arguments to the public middleware API (``guarded``): an ``InputError`` up front, never a silently
replaced value or an exception from deep inside the encoder."""

from __future__ import annotations

import numpy as np
import pytest

from guard.errors import InputError
from guard.middleware import guarded


def _frames(prompt: str) -> np.ndarray:
    return np.zeros((24, 64, 64, 3), np.uint8)


@pytest.mark.parametrize("fps", [0.0, -24.0, float("inf"), float("nan")])
def test_when_guarded_gets_a_non_finite_or_non_positive_fps_then_input_error(fps: float) -> None:
    with pytest.raises(InputError, match="fps"):
        guarded(_frames, fps=fps)
