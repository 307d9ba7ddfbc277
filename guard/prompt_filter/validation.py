"""Input validation at the prompt filter's entry: one clear error per kind of bad prompt."""

from __future__ import annotations

from guard.errors import InputError, InputTooLarge


def validate_prompt(prompt: object, max_chars: int) -> str:
    """The prompt as ``str``, or an ``InputError`` that names what is wrong with it."""
    if isinstance(prompt, (bytes, bytearray)):
        try:
            prompt = bytes(prompt).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"prompt is not valid UTF-8 (byte {exc.start}: {bytes(prompt)[exc.start:exc.start + 1]!r})"
                             ) from None
    if not isinstance(prompt, str):
        raise InputError(f"prompt must be text, got {type(prompt).__name__}")
    if any("\ud800" <= c <= "\udfff" for c in prompt):
        raise InputError("prompt contains unpaired surrogates (undecodable bytes)")
    if not prompt.strip():
        raise InputError("prompt is empty")
    if len(prompt) > max_chars:
        raise InputTooLarge(f"prompt is {len(prompt)} characters, over the limit of {max_chars} "
                            "(policy limits.prompt_max_chars)")
    return prompt
