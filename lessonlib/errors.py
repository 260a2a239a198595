"""Errors a learner can cause: each carries one sentence and an exit code."""

from __future__ import annotations


class LessonlibError(Exception):
    """A mistake the user can fix; the CLI prints the message alone and exits with ``code``."""

    code = 2

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
