"""The one vocabulary of verdicts: an exercise's, a case's and a submission's status."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A verdict. Values are the words the CLI, grades.csv and feedback print."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_STARTED = "not started"
    SYNTAX_ERROR = "syntax error"
    TIMED_OUT = "timed out"
    CRASHED = "crashed"
    GRADED = "graded"  # a submission's row: it ran, whatever it scored

    @property
    def json(self) -> str:
        """The status in ``lessonlib check --json``: passed, failed, not_started or error."""
        if self in (Status.PASSED, Status.FAILED):
            return self.value
        if self is Status.NOT_STARTED:
            return "not_started"
        return "error"
