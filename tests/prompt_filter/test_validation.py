"""Bad prompts get one clear input error, never a crash."""

from __future__ import annotations

import pytest

from guard.errors import InputError, InputTooLarge
from guard.prompt_filter import PromptFilter
from guard.prompt_filter.validation import validate_prompt


@pytest.mark.parametrize(
    ("prompt", "error", "message"),
    [
        ("", InputError, "empty"),
        ("   \n\t ", InputError, "empty"),
        (b"\xff\xfe a cat", InputError, "UTF-8"),
        ("a cat \ud800", InputError, "surrogates"),
        (42, InputError, "must be text"),
        ("x" * 101, InputTooLarge, "over the limit of 100"),
    ],
)
def test_when_bad_prompt_then_input_error(prompt: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        validate_prompt(prompt, max_chars=100)


@pytest.mark.parametrize("prompt", ["a cat", b"a caf\xc3\xa9", "x" * 100])
def test_when_good_prompt_then_text_returned(prompt: object) -> None:
    assert isinstance(validate_prompt(prompt, max_chars=100), str)


def test_when_prompt_over_policy_limit_then_filter_raises_input_too_large(prompt_filter: PromptFilter) -> None:
    too_long = "a cat " * (prompt_filter.policy.limits.prompt_max_chars // 6 + 1)
    with pytest.raises(InputTooLarge, match="prompt_max_chars"):
        prompt_filter(too_long)
    with pytest.raises(InputError, match="empty"):
        prompt_filter.check_batch(["a cat", ""])
