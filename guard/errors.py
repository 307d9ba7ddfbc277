"""Errors that reach users, each with its CLI exit code and HTTP status.

Entry points catch ``VideoguardError`` and print its one-line message; anything else is an internal
error (exit 1, HTTP 500) and is logged without a traceback on the user's screen.
"""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``: how an unexpected error is shown in a status or on stderr (never a
    traceback, and never a multi-line message that would break a one-line log or status field)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


class VideoguardError(Exception):
    exit_code = 1
    http_status = 500


class InputError(VideoguardError):
    """Bad input from the user: usage, corrupt or oversized video, empty or oversized prompt."""

    exit_code = 2
    http_status = 400


class InputTooLarge(InputError):
    http_status = 413


class UnsupportedMedia(InputError):
    http_status = 415


class PolicyError(InputError):
    """The policy file is missing or invalid."""


class VerificationFailed(VideoguardError):
    """A file's credentials are invalid or a ledger is tampered with."""

    exit_code = 4
    http_status = 422


class ConfigError(VideoguardError):
    """Certificates, keys or the state directory are unusable."""

    exit_code = 2
    http_status = 500


class StageMissing(VideoguardError):
    """A stage the policy requires is not configured: the pipeline refuses to release."""

    exit_code = 3
    http_status = 503
