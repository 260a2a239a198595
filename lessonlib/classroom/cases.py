"""The one format every exercise check is written in, and the helpers judges use.

A lesson's visible cases live in ``lessons/NN_name/checks.py`` (they ship to students); its
hidden cases in ``solutions/NN_name/hidden.py`` (they never ship). Both define ``CASES``, a
list of ``Case``. The same objects are run by ``lessonlib check``, plain ``pytest``,
``lessonlib grade`` (sandboxed), the Gradescope bundle and the Classroom workflow:

* ``build`` is a module-level function (or ``functools.partial`` of one with plain-data
  arguments) returning ``Inputs(*args, **kwargs)``. It must be deterministic (seeded): it
  runs once where the learner's function is called and once where the judge runs. Visible
  cases define their builders in checks.py; hidden cases use builders of the lesson's
  checks.py (or of ``lessonlib.references``), never ones of their own file, so the process
  that runs the learner's code never loads the hidden cases.
* ``judge(got, inputs, files)`` runs where the learner's code is not: ``got`` is the return
  value after a plain-data round trip (numbers, str, lists, tuples, dicts, tensors, arrays;
  see ``plaindata``), ``inputs`` the judge's own copy of the arguments (never modify them),
  ``files`` a folder with what the call wrote into its working directory. It compares with
  an independent reference (torch, torchviz, captum, onnxruntime …, never the solution).

Tolerance policy: floats and float tensors are compared with ``expect_close`` (default
``rtol=1e-5, atol=1e-6``: float32 round-off passes, a wrong formula does not); exact
equality only for ints, strings and bools.

Language: a judge writes its sentence with ``_()`` of ``lessonlib.messages`` and named
placeholders filled in after translation, ``_("… {want} …").format(want=want)``, so that
``lessonlib check`` speaks the learner's language (``LESSONLIB_LANG``, ``--lang``, the locale)
and the numbers stay. A sentence made where the learner's code runs (a probe, in the sandbox,
which speaks English) is a ``later(N_("…"), name=value)``: ``probe_then`` translates it in the
judge's process. ``show`` values, numbers and code stay as they are in every language.
"""

from __future__ import annotations

import math
import string
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lessonlib.messages import N_, _

RTOL = 1e-5
ATOL = 1e-6


class Inputs:
    """The arguments one case passes to the student's function: ``Inputs(loss, named)``.

    ``before``, when a builder sets it, is a trusted function of the builder module that the
    sandbox calls with the (resolved) positional arguments, in the case's working folder,
    right before the student's function: it may record what earlier calls left behind
    (hooks on a shared model, open figures) into files of that folder, or start helper
    processes around the call. It runs in the submission's process, so what it records
    catches honest mistakes, not a submission set on forging it. If it raises, the case is
    reported as one the grader could not build. The grader never runs it.
    """

    __slots__ = ("args", "kwargs", "before")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs
        self.before: Callable[[tuple], None] | None = None

    def __repr__(self) -> str:
        return f"Inputs({len(self.args)} args, {sorted(self.kwargs)})"


class InputFile:
    """A file the student's function gets by path: ``Inputs(InputFile("model.onnx", data))``.

    The sandbox writes ``data`` into its own work folder and passes the file's path (a str);
    the grader's copy of the inputs holds the path of the grader's own copy of ``data``.
    ``name`` is a relative path ("model.onnx", "logs/run.log"); every file of a case needs
    its own name.
    """

    __slots__ = ("name", "data")

    def __init__(self, name: str, data: bytes) -> None:
        parts = str(name).split("/")
        if (
            not isinstance(name, str)
            or "\0" in name
            or len(parts) > 8
            or any(p in ("", ".", "..") or len(p) > 255 for p in parts)
        ):
            raise ValueError(f"InputFile name must be a plain relative path, not {name!r}.")
        self.name = name
        self.data = bytes(data)

    def __repr__(self) -> str:
        return f"InputFile({self.name!r}, {len(self.data)} bytes)"


class ServiceURL:
    """Stands for the URL of the case's service: the sandbox passes ``http://127.0.0.1:PORT``.

    In the grader's copy of the inputs it stays a ``ServiceURL``: by the time checks run the
    server is gone, and the check reads the ``state`` the grader took from it instead.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"ServiceURL({self.name!r})"


class ServiceUnavailable(RuntimeError):
    """The sandbox has no URL for a ``ServiceURL`` (the server could not be started)."""


def resolve_inputs(inputs: Inputs, folder: str | Path, urls: dict[str, str] | None) -> Inputs:
    """``inputs`` with each ``InputFile`` written under ``folder`` (replaced by its path, a str)
    and, when ``urls`` is given, each ``ServiceURL`` replaced by its URL."""
    written: dict[str, bytes] = {}

    def resolve(value: Any) -> Any:
        if isinstance(value, InputFile):
            if written.get(value.name, value.data) != value.data:
                raise ValueError(f"two input files of one case are named {value.name!r}.")
            written[value.name] = value.data
            path = Path(folder, *value.name.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(value.data)
            path.chmod(0o444)
            return str(path)
        if isinstance(value, ServiceURL):
            if urls is None:
                return value
            if value.name not in urls:
                raise ServiceUnavailable(value.name)
            return urls[value.name]
        if type(value) in (list, tuple):
            return type(value)(resolve(v) for v in value)
        if type(value) is dict:
            return {k: resolve(v) for k, v in value.items()}
        return value

    resolved = Inputs(*resolve(inputs.args), **resolve(inputs.kwargs))
    resolved.before = inputs.before
    return resolved


@dataclass(frozen=True)
class Case:
    """One checked call: exercise id, a plain name for the learner, builder, judge.

    ``judge(got, inputs, files)`` (with a service: ``judge(got, inputs, files, state)``)
    raises ``AssertionError`` — best through ``expect``/``expect_close`` — with one sentence
    for the learner. ``hint`` is the meta.toml hint (1-based) shown when this case fails and
    the failure names none.
    """

    exercise: str
    name: str
    build: Callable[..., Inputs]
    judge: Callable[..., None]
    function: str | None = None  # default: the exercise's function in meta.toml
    timeout: float = 10.0
    service: str | None = None  # a server the grader runs for the call (grade_services)
    hint: int | None = None


class Mismatch(AssertionError):
    """A judge's verdict: one sentence for the learner and, optionally, the hint that fits."""

    def __init__(self, message: str, hint: int | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def show(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (tensors as their shape and dtype)."""
    kind = type(value)
    if getattr(kind, "__module__", "").startswith(("torch", "numpy")) and hasattr(value, "shape"):
        text = f"a {kind.__name__} of shape {tuple(value.shape)} ({value.dtype})"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def expect(condition: Any, message: str, hint: int | None = None) -> None:
    """Raise ``Mismatch(message, hint)`` unless ``condition`` holds."""
    if not condition:
        raise Mismatch(message, hint)


def first_difference(got: Any, want: Any) -> tuple[Any, Any, Any] | None:
    """``(where, want, got)`` at the first position two sequences differ, or None."""
    got, want = list(got), list(want)
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        if g != w:
            return i, w, g
    if len(got) != len(want):
        i = min(len(got), len(want))
        return i, (want[i] if i < len(want) else "nothing"), (got[i] if i < len(got) else "nothing")
    return None


def expect_same_list(got: Any, want: list, what: str, hint: int | None = None) -> None:
    """``got`` must be a list equal to ``want``; the message names the first difference.

    ``what`` is a plural noun for the items, already in the learner's language (``_(…)``)."""
    expect(
        type(got) is list,
        _("return a list of {what}, not {got}.").format(what=what, got=show(got)),
        hint,
    )
    diff = first_difference(got, want)
    if diff is not None:
        where, w, g = diff
        raise Mismatch(
            _(
                "{what} differ at position {where}: expected {want}, got {got} "
                "({count} items, expected {expected})."
            ).format(
                what=what,
                where=where,
                want=show(w, 60),
                got=show(g, 60),
                count=len(got),
                expected=len(want),
            ),
            hint,
        )


def expect_close(
    got: Any,
    want: Any,
    what: str,
    rtol: float = RTOL,
    atol: float = ATOL,
    hint: int | None = None,
) -> None:
    """``got`` ≈ ``want`` (numbers or tensors/arrays of the same shape) within the tolerance.

    The message names the first element out of tolerance: its index, expected and got.
    ``what`` names the values, already in the learner's language (``_(…)``).
    """
    import numpy as np

    if isinstance(want, (int, float)) and not isinstance(want, bool):
        expect(
            isinstance(got, (int, float)) and not isinstance(got, bool),
            _("{what}: return a number, not {got}.").format(what=what, got=show(got)),
            hint,
        )
        ok = math.isclose(float(got), float(want), rel_tol=rtol, abs_tol=atol)
        expect(
            ok,
            _("{what}: expected {want:.6g}, got {got:.6g}.").format(
                what=what, want=float(want), got=float(got)
            ),
            hint,
        )
        return
    try:
        g = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got, dtype=np.float64)
    except (TypeError, ValueError):
        raise Mismatch(
            _("{what}: return numbers (a tensor), not {got}.").format(what=what, got=show(got)),
            hint,
        ) from None
    w = np.asarray(want.detach().cpu() if hasattr(want, "detach") else want, dtype=np.float64)
    expect(
        g.shape == w.shape,
        _("{what}: expected shape {want}, got {got}.").format(
            what=what, want=tuple(w.shape), got=tuple(g.shape)
        ),
        hint,
    )
    bad = ~np.isclose(g, w, rtol=rtol, atol=atol, equal_nan=False)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise Mismatch(
            _(
                "{what}: {count} of {size} values differ; first at index {index}: "
                "expected {want:.6g}, got {got:.6g}."
            ).format(
                what=what,
                count=int(bad.sum()),
                size=bad.size,
                index=index,
                want=w[index],
                got=g[index],
            ),
            hint,
        )


def read_text(files: Path, name: str) -> str | None:
    """The text of a file the call wrote into its working folder, or None."""
    path = Path(files) / name
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None


def lesson_checks(lesson_id: str):
    """A lesson's visible checks module (``lessons/NN_x/checks.py``), for its hidden cases:
    they reuse its builders and judges with other arguments."""
    from lessonlib.classroom.grading import load_module_from
    from lessonlib.course.catalog import find_lesson

    lesson = find_lesson(lesson_id)
    return load_module_from(lesson.checks_file, f"lessonlib_checks_{lesson.id}")


# ---------------------------------------------------------------- probes
# What a return value cannot show (an input changed in place, hooks left on a model, an error
# that should be raised) is seen by a probe: just before the case's call, the case's
# ``before`` hook calls the learner's function once more, in a set-up of the probe's own, and
# writes what it saw into the case's folder, where ``probe_then`` reads it before the judge.

_PROBE = "probe"


class Later(str):
    """A sentence made where the learner's code runs, translated where the judge reads it.

    ``later(N_("{function}() changed …"), function=name)`` reads as its English text (``str``,
    f-strings and ``==`` see the English sentence); ``probed`` records its msgid and values, and
    ``probe_then`` shows it in the learner's language. A value may be a ``Later`` itself.
    """

    msgid: str
    values: dict[str, Any]

    def __new__(cls, msgid: str, values: dict[str, Any] | None = None) -> Later:
        values = dict(values or {})
        self = super().__new__(cls, _fill(msgid, values) or msgid)
        self.msgid, self.values = msgid, values
        return self


def later(msgid: str, **values: Any) -> Later:
    """A probe's message: ``msgid`` (marked with ``N_``) and its placeholders' values."""
    return Later(msgid, values)


def _fill(template: str, values: dict[str, Any]) -> str | None:
    """``template.format(**values)`` if every field is a plain name of ``values`` (no attribute
    or index look-ups: a record comes from the submission's process); else None."""
    try:
        for _text, field, spec, conversion in string.Formatter().parse(template):
            if field is None:
                continue
            if not field.isidentifier() or field not in values or "{" in (spec or ""):
                return None
            if conversion not in (None, "r", "s"):
                return None
        return template.format(**values)
    except (ValueError, TypeError, KeyError, IndexError):
        return None


def _as_record(message: Any) -> Any:
    """A probe's message as JSON: a ``Later`` as its msgid and values, anything else as text."""
    if isinstance(message, Later):
        return {
            "msgid": message.msgid,
            "values": {k: _as_record(v) for k, v in message.values.items()},
        }
    return message if isinstance(message, int | float | bool | None) else str(message)


def words(record: Any) -> str:
    """A recorded probe message in the learner's language (a plain str is shown as it is)."""
    return str(_translated(record))


def _translated(record: Any) -> Any:
    if isinstance(record, dict) and isinstance(record.get("msgid"), str):
        values = record.get("values")
        values = values if isinstance(values, dict) else {}
        values = {str(k): _translated(v) for k, v in values.items()}
        msgid = record["msgid"]
        filled = _fill(_(msgid), values) or _fill(msgid, values)
        return msgid if filled is None else filled
    if isinstance(record, int | float) and not isinstance(record, bool):
        return record  # a number keeps its format spec
    return str(record)


def probed(inputs: Inputs, function: str, probe: Callable[[Callable], Any]) -> Inputs:
    """``inputs`` whose ``before`` hook calls the learner's ``function`` through ``probe(f)``,
    in a set-up of the probe's own, and records what it returns: None, or (message, hint)."""
    from lessonlib.classroom.references.call_start import with_hook, write_observed

    def hook(args: tuple) -> None:
        f = sys.modules["exercises"].__dict__.get(function)
        if not callable(f):
            return
        try:
            problem = probe(f)
        except NotImplementedError:
            return  # a stub: its own call says "not started"
        except Exception as exc:  # noqa: BLE001 - a valid call that raised
            problem = (
                later(
                    N_("{function}() raised {error} on a valid call: {detail}"),
                    function=function,
                    error=type(exc).__name__,
                    detail=str(exc),
                ),
                None,
            )
        if isinstance(problem, tuple | list) and len(problem) == 2:
            problem = [_as_record(problem[0]), problem[1]]
        write_observed(_PROBE, {"problem": problem})

    return with_hook(inputs, hook)


def probe_then(got: Any, inputs: Inputs, files: Path, judge: Callable, **options: Any) -> None:
    """A judge: the probe's verdict first, then ``judge``'s on the case's own call."""
    from lessonlib.classroom.references.call_start import read_observed

    record = read_observed(files, _PROBE)
    expect(record is not None, _("the grader's record of this call is missing from its folder."))
    problem = record.get("problem")
    if isinstance(problem, list) and len(problem) == 2:
        raise Mismatch(words(problem[0]), problem[1] if type(problem[1]) is int else None)
    judge(got, inputs, files, **options)


def outcome(f: Callable, args: tuple, expected: type[Exception]) -> Later | None:
    """None if ``f(*args)`` raises ``expected``; else what it did instead ("raised KeyError",
    "returned normally": a ``later`` message, to use as a value of the probe's own)."""
    try:
        f(*args)
    except expected:
        return None
    except Exception as exc:  # noqa: BLE001 - the wrong kind of error
        return later(N_("raised {error}"), error=type(exc).__name__)
    return later(N_("returned normally"))


def keeps_input(function: str, args: tuple, kwargs: dict, hint: int) -> Callable:
    """A probe: call f on a copy of the first argument (a tensor); it must not change."""
    import torch

    def probe(f: Callable) -> tuple[str, int] | None:
        given = args[0].clone()
        f(given, *args[1:], **kwargs)
        if not torch.equal(given, args[0]):
            message = N_("{function}() changed the tensor it was given (in place): work on a copy.")
            return later(message, function=function), hint
        return None

    return probe
