"""Classroom grading: the case-file API, finding submissions, and turning outcomes into grades.

A lesson is graded from ``tests/hidden/grading_NN.py``, which lists ``Case`` objects:

    CASES = [
        Case("01.2", "the loss of a two-layer MLP", partial(mlp_loss, seed=0), check_count),
    ]

* ``build`` is a function (or ``functools.partial`` of one, with plain-data arguments) in a
  module *other than the case file* that returns ``Inputs(*args, **kwargs)``. It runs in the
  sandbox to make the arguments for the student's function, and again in the grader to make
  the same arguments for the check. The sandbox never loads the case file itself.
* ``check(got, inputs, files)`` runs in the grader only. ``got`` is the function's return
  value, decoded as plain data; ``inputs`` are the grader's own copy of the arguments (built
  once per grader process and shared by every submission: never modify them); ``files`` is
  a folder holding whatever the call wrote into its working directory. It raises
  ``AssertionError`` with one plain sentence when the answer is wrong.
* ``InputFile(name, data)`` anywhere in the arguments (also inside lists, tuples and dicts)
  gives the function a *path*: the sandbox writes ``data`` into its throwaway work folder
  and passes that file's path as a str; the grader's copy of the inputs gets the path of its
  own copy of the same bytes, which the submission cannot reach.
* ``Case(..., service="visdom")`` runs a fresh server for the sandbox run (see
  ``lessonlib.classroom.grade_services``), outside the sandbox and out of the submission's reach;
  ``ServiceURL("visdom")`` in the arguments becomes the URL the sandbox reaches it at. Such
  a case's check takes a fourth argument, ``state``: what the grader read from the server
  after the sandbox ended (for visdom: ``{env: {window id: window}}``).

An exercise earns its points when every one of its cases passes.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import importlib.util
import re
import stat
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lessonlib.classroom.cases import (  # noqa: F401 - the case API, re-exported
    Case,
    InputFile,
    Inputs,
    ServiceUnavailable,
    ServiceURL,
    resolve_inputs,
    show,
)
from lessonlib.course.catalog import Lesson, exercises_candidates
from lessonlib.course.status import Status
from lessonlib.errors import LessonlibError
from lessonlib.paths import project_root

# One vocabulary (lessonlib.course.status): a submission's row is graded / not started /
# syntax error / timed out / crashed; an exercise or a case is passed / failed or one of those.
GRADED, NOT_STARTED, SYNTAX_ERROR = Status.GRADED, Status.NOT_STARTED, Status.SYNTAX_ERROR
TIMED_OUT, CRASHED = Status.TIMED_OUT, Status.CRASHED
STATUSES = (GRADED, NOT_STARTED, SYNTAX_ERROR, TIMED_OUT, CRASHED)
PASSED, FAILED = Status.PASSED, Status.FAILED
RESULTS_FORMAT = 1
MAX_SOURCE_BYTES = 1_000_000


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
    cases, specs = [], []
    for is_hidden, module, path in sources:
        found = list(getattr(module, "CASES", ()))
        if not found or not all(isinstance(c, Case) for c in found):
            raise LessonlibError(f"{path.name} must define CASES, a non-empty list of Case.")
        for case in found:
            index = len(cases)
            if case.exercise not in functions:
                raise LessonlibError(
                    f"{path.name}: case {index} names unknown exercise {case.exercise}."
                )
            fn = case.function or functions[case.exercise]
            specs.append(_spec(index, case, fn, is_hidden, modules))
            cases.append(case)
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


# ---------------------------------------------------------------- submissions


@dataclass
class Submission:
    """One student's file (or the reason there is none to run)."""

    student: str
    stem: str  # safe file name stem for results/<stem>.json and feedback/<stem>.md
    source: bytes | None = None
    status: str = ""  # set when the file cannot be run at all
    problem: str = ""  # one sentence for the feedback

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.source or self.problem.encode()).hexdigest()


_CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def safe_stem(student: str) -> str:
    """The file-name stem for ``student``'s results and feedback: the name itself.

    Any name Linux accepts survives (``Zoë_Núñez_张伟``). The one reversible escape: ``%``,
    ``/`` and NUL become ``%25``, ``%2F`` and ``%00``; a name that is ``.``/``..``, starts
    with ``.`` or is longer than 200 bytes gets ``%`` escapes for those bytes too.
    """
    text = student.replace("%", "%25").replace("/", "%2F").replace("\0", "%00")
    if text.startswith("."):
        text = "%2E" + text[1:]
    raw = text.encode("utf-8", "surrogateescape")
    if len(raw) > 200:
        digest = hashlib.sha1(raw).hexdigest()[:8]
        text = raw[:180].decode("utf-8", "ignore") + f"%~{digest}"
    return text


def student_from_stem(stem: str) -> str:
    """``safe_stem``'s inverse (for names under 200 bytes)."""
    import urllib.parse

    return urllib.parse.unquote(stem)


def _source_problem(source: bytes) -> tuple[str, str]:
    """(status, sentence) for a file that must not even be compiled, else ('', '')."""
    if len(source) > MAX_SOURCE_BYTES:
        return (
            NOT_STARTED,
            "exercises.py is larger than 1 MB; the grader does not run files that big.",
        )
    if not source.strip():
        return NOT_STARTED, "exercises.py is empty: nothing to grade yet."
    encoding = "utf-8-sig"
    for line in source.split(b"\n", 2)[:2]:  # PEP 263: a coding cookie on line 1 or 2
        cookie = _CODING.match(line.decode("latin-1"))
        if cookie:
            encoding = cookie.group(1)
            break
    try:
        codecs.lookup(encoding)
    except LookupError:
        return (
            SYNTAX_ERROR,
            f"exercises.py declares the text encoding {encoding[:30]!r}, "
            "which Python does not know.",
        )
    try:
        source.decode(encoding)
    except UnicodeDecodeError as exc:
        line = source[: exc.start].count(b"\n") + 1
        return SYNTAX_ERROR, (
            f"exercises.py is not UTF-8 text (line {line} has bytes that are not UTF-8); "
            "save it as UTF-8 and submit again."
        )
    return "", ""


def _read_regular(path: Path, base: Path) -> tuple[bytes | None, str]:
    """Bytes of ``path`` if it and every folder between it and ``base`` is no symlink."""
    current = base
    for part in path.relative_to(base).parts:
        current = current / part
        try:
            mode = current.lstat().st_mode
        except OSError:
            return None, ""
        if stat.S_ISLNK(mode):
            rel = current.relative_to(base.parent)
            return (
                None,
                f"{rel} is a symbolic link; the grader does not follow links: "
                "submit the file itself.",
            )
    if not stat.S_ISREG(mode):
        return None, ""
    with open(path, "rb") as fh:
        return fh.read(MAX_SOURCE_BYTES + 1), ""


def _from_folder(folder: Path, lesson: Lesson) -> tuple[bytes | None, str]:
    bases = [folder]
    inner = [p for p in sorted(folder.iterdir()) if not p.name.startswith((".", "__MACOSX"))]
    if len(inner) == 1 and inner[0].is_dir() and not inner[0].is_symlink():
        bases.append(inner[0])  # a download wrapped in one extra folder
    globbed = [
        f"lessons/{p.name}/exercises.py"
        for p in sorted((folder / "lessons").glob(f"{lesson.id}_*"))
        if (folder / "lessons").is_dir() and not (folder / "lessons").is_symlink()
    ]
    for base in bases:
        for rel in [*exercises_candidates(lesson), *globbed]:
            data, problem = _read_regular(base / rel, folder)
            if problem:
                return None, problem
            if data is not None:
                return data, ""
    return None, ""


def _from_zip(path: Path, lesson: Lesson) -> tuple[bytes | None, str]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return None, f"{path.name} is not a readable zip file."
    with archive:
        entries = {i.filename.replace("\\", "/").lstrip("/"): i for i in archive.infolist()}
        wanted = exercises_candidates(lesson)
        pattern = re.compile(
            rf"(?:[^/]+/)?(?:lessons/)?{lesson.id}_[^/]+/exercises\.py|"
            r"(?:[^/]+/)?exercises\.py"
        )
        names = [n for n in wanted if n in entries]
        names += sorted(n for n in entries if pattern.fullmatch(n) and n not in names)
        for name in names:
            info = entries[name]
            if stat.S_ISLNK(info.external_attr >> 16):
                return None, f"{name} in {path.name} is a symbolic link; submit the file itself."
            if info.file_size > MAX_SOURCE_BYTES:
                return b"\0" * (MAX_SOURCE_BYTES + 1), ""
            try:
                with archive.open(info) as fh:
                    return fh.read(MAX_SOURCE_BYTES + 1), ""
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError):
                return None, f"{name} in {path.name} cannot be extracted."
    return None, ""


def find_submissions(folder: Path, lesson: Lesson) -> list[Submission]:
    """One ``Submission`` per student folder or ``.zip`` in ``folder``, sorted by student id."""
    if not folder.is_dir():
        raise LessonlibError(
            f"{folder} is not a folder; give the folder holding one folder per student."
        )
    found: dict[str, Submission] = {}
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if name.startswith((".", "__MACOSX")):
            continue
        is_zip = name.lower().endswith(".zip")
        if not (entry.is_symlink() or entry.is_dir() or is_zip):
            continue
        student = name[:-4] if is_zip else name
        if student in found:
            student = name
        sub = Submission(student, safe_stem(student))
        found[student] = sub
        if entry.is_symlink():
            sub.status, sub.problem = (
                NOT_STARTED,
                (
                    f"{name} is a symbolic link; the grader does not follow links: "
                    "submit the files themselves."
                ),
            )
            continue
        source, problem = _from_zip(entry, lesson) if is_zip else _from_folder(entry, lesson)
        if problem:
            sub.status, sub.problem = NOT_STARTED, problem
        elif source is None:
            sub.status, sub.problem = (
                NOT_STARTED,
                (f"no exercises.py found (looked at the folder root and lessons/{lesson.slug}/)."),
            )
        else:
            sub.source = source
            sub.status, sub.problem = _source_problem(source)
    stems: dict[str, int] = {}
    for sub in found.values():
        stems[sub.stem] = stems.get(sub.stem, 0) + 1
    for sub in found.values():
        if stems[sub.stem] > 1:
            sub.stem = f"{sub.stem}-{hashlib.sha1(sub.student.encode()).hexdigest()[:8]}"
    return sorted(found.values(), key=lambda s: s.student)


# ---------------------------------------------------------------- outcomes → a record


@dataclass
class CaseOutcome:
    """What happened to one case: passed / failed / not started / timed out / crashed / skipped."""

    index: int
    exercise: str
    name: str
    outcome: str
    message: str = ""
    hint: int | None = None  # the meta.toml hint (1-based) that fits this failure


@dataclass
class RunProblem:
    """A problem that stopped the whole submission (syntax error, crash or hang at import)."""

    status: str
    message: str


_HEX = re.compile(r"0x[0-9a-fA-F]{4,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def plain_text(text: str, limit: int = 400) -> str:
    """One line, no control characters or memory addresses, at most ``limit`` characters."""
    text = _HEX.sub("0x…", _CONTROL.sub("", str(text)))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def output_lines(raw: bytes, keep: int = 5, width: int = 160) -> list[str]:
    """The last few non-empty lines a submission printed, each cut to ``width``."""
    text = raw.decode("utf-8", errors="replace")
    lines = [plain_text(ln, width) for ln in text.splitlines() if ln.strip()]
    return lines[-keep:]


@dataclass
class ExerciseVerdict:
    id: str
    title: str
    points: int
    status: str
    message: str = ""
    hint: str = ""
    hint_number: int = 0

    @property
    def earned(self) -> int:
        return self.points if self.status == PASSED else 0


def _fold(lesson: Lesson, outcomes: list[CaseOutcome]) -> list[ExerciseVerdict]:
    verdicts = []
    for ex in lesson.exercises:
        mine = [o for o in outcomes if o.exercise == ex.id and o.outcome != "skipped"]
        first = None
        if mine and all(o.outcome == PASSED for o in mine):
            status, message = PASSED, ""
        elif not mine:
            status, message = FAILED, "this exercise was not run."
        else:
            order = (NOT_STARTED, TIMED_OUT, CRASHED, FAILED)
            first = min(
                (o for o in mine if o.outcome != PASSED),
                key=lambda o: (order.index(o.outcome) if o.outcome in order else 9, o.index),
            )
            status, message = first.outcome, first.message
        hint, number = "", 0
        if status != PASSED and ex.hints:
            number = first.hint if first is not None and status != NOT_STARTED else None
            if number is None:
                number = 1 if status == NOT_STARTED else min(2, len(ex.hints))
            number = max(1, min(number, len(ex.hints)))
            hint = ex.hints[number - 1]
        verdicts.append(ExerciseVerdict(ex.id, ex.title, ex.points, status, message, hint, number))
    return verdicts


def _row_status(verdicts: list[ExerciseVerdict]) -> str:
    statuses = {v.status for v in verdicts}
    if TIMED_OUT in statuses:
        return TIMED_OUT
    if CRASHED in statuses:
        return CRASHED
    if statuses == {NOT_STARTED}:
        return NOT_STARTED
    return GRADED


def make_record(
    lesson: Lesson,
    sub: Submission,
    grading_sha: str,
    outcomes: list[CaseOutcome] | None = None,
    problem: RunProblem | None = None,
    output: list[str] | None = None,
) -> dict:
    """The student's results.json (Gradescope's format; lessonlib's details in extra_data)."""
    if sub.status:
        problem = RunProblem(sub.status, sub.problem)
    if problem is not None:
        verdicts = [
            ExerciseVerdict(
                e.id,
                e.title,
                e.points,
                problem.status,
                problem.message,
                e.hints[0] if e.hints else "",
            )
            for e in lesson.exercises
        ]
        status = problem.status
    else:
        verdicts = _fold(lesson, outcomes or [])
        status = _row_status(verdicts)
    score = sum(v.earned for v in verdicts)
    tests = []
    for v in verdicts:
        text = "" if v.status == PASSED else v.message
        if v.hint:
            text = f"{text}\nNext hint: {v.hint}".strip()
        tests.append(
            {
                "name": f"{v.id} {v.title}",
                "number": v.id,
                "score": v.earned,
                "max_score": v.points,
                "status": PASSED if v.status == PASSED else FAILED,
                "output": text,
                "visibility": "visible",
            }
        )
    summary = f"Lesson {lesson.id} ({lesson.title}): {score}/{lesson.points} points, {status}."
    if problem is not None:
        summary += f" {problem.message}"
    return {
        "score": score,
        "output": summary,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "lessonlib": {
                "format": RESULTS_FORMAT,
                "student": sub.student,
                "lesson": lesson.id,
                "status": status,
                "max_score": lesson.points,
                "source_sha256": sub.digest,
                "grading_sha256": grading_sha,
                "problem": problem.message if problem is not None else "",
                "exercises": [
                    {
                        "id": v.id,
                        "title": v.title,
                        "points": v.points,
                        "earned": v.earned,
                        "status": v.status,
                        "message": v.message,
                        "hint": v.hint,
                    }
                    for v in verdicts
                ],
                "cases": [
                    {
                        "exercise": o.exercise,
                        "name": o.name,
                        "outcome": o.outcome,
                        "message": o.message,
                    }
                    for o in sorted(outcomes or [], key=lambda o: o.index)
                ],
                "output": output or [],
            }
        },
    }


def record_details(record: dict) -> dict:
    return record["extra_data"]["lessonlib"]


# ---------------------------------------------------------------- feedback and the grade book


def _md(text: str) -> str:
    return text.replace("`", "'").replace("|", "/").replace("<", "‹").replace(">", "›")


def feedback_markdown(record: dict, lesson: Lesson) -> str:
    """The student's feedback page: points per exercise, what failed, the next hint."""
    info = record_details(record)
    lines = [
        f"# Lesson {lesson.id}: {lesson.title} — feedback for {_md(info['student'])}",
        "",
        f"**Score: {record['score']} / {info['max_score']}** ({info['status']})",
        "",
    ]
    if info.get("problem"):
        lines += [f"What went wrong: {_md(info['problem'])}", ""]
    lines += ["| exercise | points | result |", "|---|---|---|"]
    for ex in info["exercises"]:
        lines.append(
            f"| {ex['id']} {_md(ex['title'])} | {ex['earned']}/{ex['points']} | {ex['status']} |"
        )
    for ex in [] if info.get("problem") else info["exercises"]:
        if ex["status"] == PASSED:
            continue
        lines += ["", f"## {ex['id']} {_md(ex['title'])} — {ex['earned']}/{ex['points']}", ""]
        if ex["message"]:
            lines += [f"What went wrong: {_md(ex['message'])}", ""]
        if ex["hint"]:
            lines.append(f"Next hint: {_md(ex['hint'])}")
    if info["output"] and info["status"] in (CRASHED, TIMED_OUT):
        lines += ["", "## The last lines your code printed", ""]
        lines += [f"    {_md(line)}" for line in info["output"]]
    passed = sum(1 for ex in info["exercises"] if ex["status"] == PASSED)
    lines += [
        "",
        f"{passed} of {len(info['exercises'])} exercises passed. Check your work any "
        f"time with `lessonlib check {lesson.id}`; `lessonlib hint {lesson.id}.1` shows hints.",
    ]
    return "\n".join(lines) + "\n"


def csv_header(lesson: Lesson) -> list[str]:
    return ["student", "score", "max_score", *(e.id for e in lesson.exercises), "status"]


def csv_row(record: dict) -> list[str]:
    info = record_details(record)
    earned = [str(ex["earned"]) for ex in info["exercises"]]
    return [info["student"], str(record["score"]), str(info["max_score"]), *earned, info["status"]]


@dataclass
class Summary:
    """Class-level numbers for the end-of-run table."""

    students: int = 0
    max_score: int = 0
    mean: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    distribution: dict[str, int] = field(default_factory=dict)  # "3" or "10–14" -> students
    pass_rates: dict[str, float] = field(default_factory=dict)


def summarise(records: list[dict], lesson: Lesson) -> Summary:
    out = Summary(students=len(records), max_score=lesson.points)
    if not records:
        return out
    scores = [r["score"] for r in records]
    out.mean = sum(scores) / len(scores)
    for status in STATUSES:
        out.statuses[status] = sum(1 for r in records if record_details(r)["status"] == status)
    width = 1 if lesson.points <= 12 else -(-(lesson.points + 1) // 10)
    for low in range(0, lesson.points + 1, width):
        high = min(low + width - 1, lesson.points)
        label = str(low) if low == high else f"{low}–{high}"
        out.distribution[label] = sum(1 for x in scores if low <= x <= high)
    for ex in lesson.exercises:
        passed = sum(
            1
            for r in records
            for e in record_details(r)["exercises"]
            if e["id"] == ex.id and e["status"] == PASSED
        )
        out.pass_rates[ex.id] = passed / len(records)
    return out
