"""One exception type whose message is written for the user.

Surfaces (CLI, HTTP) print ``str(err)`` as one line and map ``kind`` to an
exit code or HTTP status; anything that is not a KinosealError is a bug.
"""

from __future__ import annotations


class KinosealError(Exception):
    """An error the user can act on. ``kind`` groups errors for the surfaces."""

    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} ({hint})")


class InputError(KinosealError):
    """The input file is not something we can read (corrupt, empty, not a video...)."""

    kind = "invalid_input"


class LimitExceeded(InputError):
    """The input is readable but over a configured size/duration limit."""

    kind = "limit_exceeded"


class ModelLoadError(InputError):
    """A configured model (the classifier) cannot be loaded: a setup problem, the same for
    every clip, so a command stops at the first one instead of repeating it per clip."""


class CredentialError(KinosealError):
    """Keys, certificates or trust anchors are missing or invalid."""

    kind = "credentials"


class OutputError(KinosealError):
    """The output could not be written (permissions, disk full...)."""

    kind = "output"
