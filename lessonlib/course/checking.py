"""Check someone's exercises.py against a lesson's cases: the same engine ``lessonlib grade`` uses.

``check_lesson`` runs the lesson's visible cases (and, for the dev check, the hidden ones)
through ``lessonlib.classroom.grade_worker.Grader``: the learner's functions are called in a
sandboxed child process, their results come back as plain data and the judges of
``lessons/NN_x/checks.py`` compare them with independent references in this process. So
``check``, pytest (``lessonlib.course.pytest_plugin``) and ``grade`` give the same verdicts by
construction. With ``warm``, the run is a fork of the warm worker (torch already imported).

Run as ``python -m lessonlib.course.checking LESSON REPORT [--hidden] FILE...`` it writes
the outcomes as JSON to REPORT (this is what the worker and the cold path run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from lessonlib.classroom.records import ExerciseVerdict
from lessonlib.course.catalog import Lesson, exercises_candidates
from lessonlib.course.status import Status
from lessonlib.errors import LessonlibError
from lessonlib.messages import _
from lessonlib.paths import project_root

PASSED, FAILED, NOT_STARTED = Status.PASSED, Status.FAILED, Status.NOT_STARTED
SYNTAX_ERROR, TIMED_OUT, CRASHED = Status.SYNTAX_ERROR, Status.TIMED_OUT, Status.CRASHED
CHECK_TIMEOUT_S = 300.0


@dataclass
class CaseResult:
    """One case's verdict (what pytest shows as one test)."""

    index: int
    exercise: str
    name: str
    outcome: str
    message: str = ""
    hidden: bool = False
    hint: int | None = None  # the meta.toml hint that fits this failure


@dataclass
class CheckReport:
    """The result of checking one lesson: per-exercise results, or a file-level problem."""

    lesson: Lesson
    exercises_file: Path
    results: list[ExerciseVerdict]
    problem: str = ""
    status: str = "checked"
    cases: list[CaseResult] | None = None

    @property
    def earned(self) -> int:
        return sum(r.earned for r in self.results)

    @property
    def total(self) -> int:
        return sum(r.points for r in self.results)

    def statuses(self) -> dict[str, str]:
        return {r.id: str(r.status) for r in self.results}

    def to_json(self) -> dict:
        """The ``lessonlib check --json`` document."""
        return {
            "lesson": self.lesson.id,
            "file": str(self.exercises_file),
            "problem": self.problem,
            "exercises": [
                {
                    "id": r.id,
                    "title": r.title,
                    "status": Status(r.status).json,
                    "points": r.earned,
                    "max_points": r.points,
                    "message": r.message,
                    "hint": r.hint_number or None,
                }
                for r in self.results
            ],
            "points": self.earned,
            "max_points": self.total,
        }


def locate_exercises(root: Path, lesson: Lesson) -> Path:
    """The exercises.py of ``lesson`` under ``root`` (the course, solutions, a copy), by the
    one rule ``lessonlib grade`` uses too (``catalog.exercises_candidates``)."""
    for rel in exercises_candidates(lesson):
        if (root / rel).is_file():
            return root / rel
    return root / exercises_candidates(lesson)[0]


def syntax_problem(path: Path) -> str:
    """``''`` when ``path`` compiles, else one sentence with file, line and message."""
    try:
        source = path.read_bytes()
    except OSError as exc:
        return _("{path} cannot be read: {reason}.").format(path=path, reason=exc.strerror)
    try:
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        return _("syntax error in {path}, line {line}: {reason}.").format(
            path=path, line=exc.lineno, reason=exc.msg
        )
    except ValueError as exc:
        return _("{path} cannot be compiled: {reason}.").format(path=path, reason=exc)
    return ""


def _same_for_all(lesson: Lesson, path: Path, status: str, message: str) -> CheckReport:
    results = [
        ExerciseVerdict(e.id, e.title, e.points, status, message, e.hints[0] if e.hints else "", 1)
        for e in lesson.exercises
    ]
    return CheckReport(lesson, path, results, message, status)


def check_lesson(
    lesson: Lesson,
    lesson_root: Path | None = None,
    *,
    hidden: bool = False,
    timeout: float = CHECK_TIMEOUT_S,
    warm: bool = False,
    exercises_file: Path | None = None,
) -> CheckReport:
    """Check ``lesson`` against the exercises.py under ``lesson_root`` (default: the course's).

    Raises ``LessonlibError`` when there is no such file (one sentence, exit 2 in the CLI).
    """
    root = Path(lesson_root) if lesson_root else project_root() / "lessons"
    path = exercises_file or locate_exercises(root, lesson)
    if not path.is_file():
        raise LessonlibError(
            _("no exercises.py for lesson {id} under {root} (looked for {where}).").format(
                id=lesson.id, root=root, where=", ".join(exercises_candidates(lesson))
            )
        )
    return check_files(lesson, [path], hidden=hidden, timeout=timeout, warm=warm)[0]


def check_files(
    lesson: Lesson,
    paths: list[Path],
    *,
    hidden: bool = False,
    timeout: float = CHECK_TIMEOUT_S,
    warm: bool = False,
) -> list[CheckReport]:
    """Check several exercises.py files against ``lesson``'s cases in one engine run."""
    reports: dict[int, CheckReport] = {}
    runnable = []
    for i, path in enumerate(paths):
        problem = syntax_problem(path)
        if problem:
            reports[i] = _same_for_all(lesson, path, SYNTAX_ERROR, problem)
        else:
            runnable.append(i)
    if not runnable:
        return [reports[i] for i in range(len(paths))]
    with tempfile.TemporaryDirectory(prefix="lessonlib-check-") as tmp:
        report = Path(tmp) / "report.json"
        argv = [lesson.id, str(report)] + (["--hidden"] if hidden else [])
        argv += [str(paths[i].resolve()) for i in runnable]
        env = dict(os.environ, MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
        budget = timeout * len(runnable)
        try:
            if not (warm and _run_warm(lesson, argv, env, budget)):
                subprocess.run(
                    [sys.executable, "-m", "lessonlib.course.checking", *argv],
                    cwd=project_root(),
                    env=env,
                    timeout=budget,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    check=False,
                )
        except subprocess.TimeoutExpired:
            msg = _("the checks did not finish within {seconds:.0f} s (an endless loop?).").format(
                seconds=timeout
            )
            for i in runnable:
                reports[i] = _same_for_all(lesson, paths[i], TIMED_OUT, msg)
            return [reports[i] for i in range(len(paths))]
        if not report.exists():
            raise LessonlibError(
                f"the checks of lesson {lesson.id} could not run (a problem in the course, not "
                "in your code); run 'lessonlib --debug check' or tell your teacher."
            )
        raw = json.loads(report.read_text(encoding="utf-8"))
    if isinstance(raw, dict) and raw.get("error"):
        raise LessonlibError(raw["error"])
    for i, one in zip(runnable, raw, strict=True):
        reports[i] = _report_from(lesson, paths[i], one)
    return [reports[i] for i in range(len(paths))]


def _report_from(lesson: Lesson, path: Path, raw: dict) -> CheckReport:
    from lessonlib.classroom.records import CaseOutcome, RunProblem, _fold

    cases = [CaseResult(**c, hint=h) for c, h in zip(raw["cases"], raw["hints"], strict=True)]
    if raw.get("problem"):
        problem = RunProblem(**raw["problem"])
        return _same_for_all(lesson, path, problem.status, problem.message)
    outcomes = [
        CaseOutcome(c.index, c.exercise, c.name, c.outcome, c.message, h)
        for c, h in zip(cases, raw["hints"], strict=True)
    ]
    return CheckReport(lesson, path, _fold(lesson, outcomes), cases=cases)


def _run_warm(lesson: Lesson, argv: list[str], env: dict, timeout: float) -> bool:
    """Run the check in the warm worker; False when it cannot be used (then run cold)."""
    from lessonlib.course import check_worker

    if not check_worker.enabled():
        return False
    preload = check_worker.third_party_imports([lesson.checks_file])
    try:
        check_worker.run_module(
            "lessonlib.course.checking", argv, project_root(), env, timeout, preload
        )
    except OSError:
        return False
    return True


# ---------------------------------------------------------------- the engine side


def run_cases(lesson_id: str, files: list[Path], hidden: bool) -> list[dict]:
    """Grade files with the lesson's cases (sandboxed calls, judges here): plain data."""
    from lessonlib.classroom.confine import Limits
    from lessonlib.classroom.grade_run import run_uid_base
    from lessonlib.classroom.grade_worker import Grader

    root = project_root()
    limits = Limits(
        wall_seconds=CHECK_TIMEOUT_S, cpu_seconds=int(CHECK_TIMEOUT_S), memory_bytes=4 << 30
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="lessonlib-check-") as scratch:
        config = {
            "lesson": lesson_id,
            "root": str(root),
            "slot": 0,
            "limits": asdict(limits),
            "timeout": CHECK_TIMEOUT_S,
            "scratch": scratch,
            "namespaces": os.environ.get("LESSONLIB_SANDBOX_NAMESPACES", "auto"),
            "uid": run_uid_base(),
            "hide": [str(root / "solutions"), scratch],
            "hidden": hidden,
        }
        grader = Grader(config)
        try:
            by_index = {s.index: s for s in grader.specs}
            for path in files:
                outcomes, problem, _ = grader.grade(path.read_bytes())
                results.append(
                    {
                        "cases": [
                            {
                                "index": o.index,
                                "exercise": o.exercise,
                                "name": o.name,
                                "outcome": str(o.outcome),
                                "message": o.message,
                                "hidden": by_index[o.index].hidden,
                            }
                            for o in outcomes
                        ],
                        "hints": [o.hint for o in outcomes],
                        "problem": asdict(problem) if problem else None,
                    }
                )
        finally:
            grader.close()
    return results


def main(argv: list[str] | None = None) -> int:
    """``LESSON REPORT [--hidden] FILE...``: check each file, write the results to REPORT."""
    args = list(sys.argv[1:] if argv is None else argv)
    hidden = "--hidden" in args
    lesson_id, report, *files = [a for a in args if a != "--hidden"]
    try:
        data: object = run_cases(lesson_id, [Path(f) for f in files], hidden)
    except LessonlibError as exc:
        data = {"error": str(exc)}
    tmp = f"{report}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
