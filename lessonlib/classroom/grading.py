"""A lesson's cases loaded for a run: ``lessons/NN_x/checks.py``, ``solutions/NN_x/hidden.py``.

``load_cases`` imports them (on the judging side only), checks them against meta.toml and
turns each ``Case`` (see ``lessonlib.classroom.cases``, the format) into a plain ``CaseSpec``:
what the process running a submission needs to build the case's inputs and call the
function. ``grading_digest`` fingerprints everything a verdict depends on besides the
submission. An exercise earns its points when every one of its cases passes.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lessonlib.classroom.cases import Case
from lessonlib.classroom.records import RESULTS_FORMAT
from lessonlib.course.catalog import Lesson
from lessonlib.errors import LessonlibError
from lessonlib.paths import project_root


@dataclass(frozen=True)
class CaseSpec:
    """A case as plain data: what the sandbox needs to build its inputs and call the function."""

    index: int
    exercise: str
    name: str
    function: str
    module: str
    qualname: str
    args: tuple
    kwargs: dict
    timeout: float
    service: str | None = None
    path: str | None = None  # the module's file, for a case file loaded by path
    hidden: bool = False

    def to_json(self) -> dict:
        data = {
            "index": self.index,
            "exercise": self.exercise,
            "function": self.function,
            "module": self.module,
            "path": self.path,
            "qualname": self.qualname,
            "args": list(self.args),
            "kwargs": self.kwargs,
        }
        if self.service:
            data["service"] = self.service
        return data


# ---------------------------------------------------------------- case files


def case_files(lesson: Lesson, root: Path | None = None) -> tuple[Path, Path]:
    """Where lesson ``NN``'s cases live: ``lessons/NN_x/checks.py`` (visible, shipped) and
    ``solutions/NN_x/hidden.py`` (hidden, instructor only)."""
    root = root or project_root()
    return lesson.path / "checks.py", root / "solutions" / lesson.slug / "hidden.py"


def case_file(lesson: Lesson, root: Path | None = None) -> Path:
    """The lesson's visible case file (every graded lesson has one)."""
    return case_files(lesson, root)[0]


def _plain(value: Any) -> bool:
    if value is None or type(value) in (bool, int, float, str):
        return True
    if type(value) in (list, tuple):
        return all(_plain(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False


def _spec(index: int, case: Case, function: str, hidden: bool, modules: dict) -> CaseSpec:
    build, args, kwargs = case.build, (), {}
    if isinstance(build, functools.partial):
        build, args, kwargs = build.func, build.args, dict(build.keywords)
    module = getattr(build, "__module__", None)
    qualname = getattr(build, "__qualname__", "")
    where = f"case {index} ({case.exercise}, {case.name!r})"
    if not module or "<" in qualname:
        raise LessonlibError(f"{where}: build must be a module-level function or a partial of one.")
    if hidden and module == modules["hidden"][0]:
        raise LessonlibError(
            f"{where}: hidden cases build their inputs with builders of the lesson's checks.py "
            f"(move {qualname} there): the process running a submission never loads hidden.py."
        )
    if not _plain(list(args)) or not _plain(kwargs):
        raise LessonlibError(f"{where}: builder arguments must be plain data (numbers, strings).")
    if case.service is not None:
        from lessonlib.classroom.grade_services import SERVICES

        if case.service not in SERVICES:
            raise LessonlibError(
                f"{where}: unknown service {case.service!r} (known: {', '.join(SERVICES)})."
            )
    path = modules["visible"][1] if module == modules["visible"][0] else None
    name = f"{case.name} (hidden case)" if hidden else case.name
    return CaseSpec(
        index,
        case.exercise,
        name,
        function,
        module,
        qualname,
        tuple(args),
        kwargs,
        float(case.timeout),
        case.service,
        str(path) if path else None,
        hidden,
    )


def load_module_from(path: Path, name: str):
    """Import the file ``path`` as module ``name`` (lesson folders start with a digit)."""
    info = path.stat()
    stamp = (str(path), info.st_mtime_ns, info.st_size)
    known = sys.modules.get(name)
    if known is not None and getattr(known, "__lessonlib_stamp__", None) == stamp:
        return known
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LessonlibError(f"{path} cannot be imported.")
    module = importlib.util.module_from_spec(spec)
    module.__lessonlib_stamp__ = stamp
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_cases(
    lesson: Lesson, root: Path | None = None, *, hidden: bool = True
) -> tuple[list[Case], list[CaseSpec]]:
    """The lesson's visible cases and, with ``hidden``, its hidden ones, checked against
    meta.toml; as ``Case`` objects (judge side) and plain ``CaseSpec``s (what the process
    that runs the submission needs)."""
    visible_path, hidden_path = case_files(lesson, root)
    if not visible_path.is_file():
        raise LessonlibError(
            f"lesson {lesson.id} has no checks: write lessons/{lesson.slug}/checks.py "
            "(see the teacher's guide, 'Writing cases')."
        )
    modules = {
        "visible": (f"lessonlib_checks_{lesson.id}", visible_path),
        "hidden": (f"lessonlib_hidden_{lesson.id}", hidden_path),
    }
    sources = [(False, load_module_from(visible_path, modules["visible"][0]), visible_path)]
    if hidden and hidden_path.is_file():
        sources.append((True, load_module_from(hidden_path, modules["hidden"][0]), hidden_path))
    functions = {e.id: e.function for e in lesson.exercises}
    found: list[tuple[bool, Case]] = []
    for is_hidden, module, path in sources:
        listed = list(getattr(module, "CASES", ()))
        if not listed or not all(isinstance(c, Case) for c in listed):
            raise LessonlibError(f"{path.name} must define CASES, a non-empty list of Case.")
        for number, case in enumerate(listed):
            if case.exercise not in functions:
                raise LessonlibError(
                    f"{path.name}: case {number} names unknown exercise {case.exercise}."
                )
            found.append((is_hidden, case))
    # Exercise by exercise (visible cases first): a function that hangs and uses up the
    # submission's time then costs its own exercise, not the hidden cases of the others.
    order = list(functions)
    found.sort(key=lambda item: (order.index(item[1].exercise), item[0]))
    cases = [case for _, case in found]
    specs = [
        _spec(index, case, case.function or functions[case.exercise], is_hidden, modules)
        for index, (is_hidden, case) in enumerate(found)
    ]
    checked = {s.exercise for s in specs if not s.hidden}
    missing = [e for e in functions if e not in checked]
    if missing:
        raise LessonlibError(f"checks.py: no visible case checks exercise {', '.join(missing)}.")
    return cases, specs


def grading_digest(lesson: Lesson, root: Path | None = None) -> str:
    """A fingerprint of everything a verdict depends on besides the submission."""
    digest = hashlib.sha256(f"format {RESULTS_FORMAT}\n".encode())
    here = Path(__file__).parent
    files = [lesson.path / "meta.toml", *case_files(lesson, root)]
    files += sorted(here.glob("*.py")) + sorted((here / "references").glob("*.py"))
    for path in files:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
