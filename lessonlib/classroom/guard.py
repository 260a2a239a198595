"""No borrowed answers: while a learner's function is checked, the course's answer is off limits.

The course library keeps working implementations the lesson pages use (``gradcam.grad_cam``,
``plotting.unnormalize`` …). Each starts with ``refuse("07.1", "lessonlib.gradcam.grad_cam")``:
outside a check it does nothing; while exercise 07.1 is being checked (``lessonlib check``,
pytest, ``lessonlib grade``: all run the call through ``checked_call``) it raises
``BorrowedAnswer``, and the call fails with one sentence even if the learner's code catches
the exception. The references the judges compare against refuse every exercise (``"*"``).

This catches borrowing (a wrapper, ``import *``, a direct call); a submission set on
defeating it can, since it runs in the same process: the grade is still the teacher's to read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_checking: str | None = None
_refused: str = ""


class BorrowedAnswer(RuntimeError):
    """A checked function called the course's own answer to the exercise being checked."""


def refuse(exercise: str, name: str) -> None:
    """Raise ``BorrowedAnswer`` when ``exercise`` (or, for ``"*"``, any exercise) is checked."""
    global _refused
    if _checking is None or exercise not in ("*", _checking):
        return
    if exercise == "*":
        what = f"{name} is one of the references the checks compare against"
    else:
        what = f"{name} is the course library's own answer to exercise {_checking}"
    _refused = (
        f"{what}: write {_checking} yourself (calling it, wrapping it or importing it "
        "with * is off limits while the exercise is checked)."
    )
    raise BorrowedAnswer(_refused)


def checked_call(exercise: str, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """``func(*args, **kwargs)`` with ``exercise``'s answers off limits.

    Raises ``BorrowedAnswer`` when ``func`` is itself a library function (``import *``) or
    when it reached a refused one, whatever it did with that exception.
    """
    global _checking, _refused
    module = getattr(func, "__module__", None) or ""
    if module == "lessonlib" or module.startswith("lessonlib."):
        name = f"{module}.{getattr(func, '__qualname__', 'function')}"
        raise BorrowedAnswer(
            f"{name} comes from the course library, not from your exercises.py: write "
            f"{exercise} yourself (importing the library's version is off limits)."
        )
    _checking, _refused = exercise, ""
    try:
        value = func(*args, **kwargs)
    except BaseException:
        if _refused:
            raise BorrowedAnswer(_refused) from None
        raise
    finally:
        _checking = None
    if _refused:
        raise BorrowedAnswer(_refused)
    return value
