"""Run a lesson's exercise tests against someone's exercises.py and summarise per exercise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lessonlib.course.catalog import Lesson
from lessonlib.paths import project_root

PASSED, FAILED, NOT_STARTED = "passed", "failed", "not started"
SYNTAX_ERROR, TIMED_OUT = "syntax error", "timed out"


@dataclass
class TestResult:
    """One pytest test's verdict, as the pytest plugin reported it."""

    nodeid: str
    exercise: str
    points: int
    outcome: str
    message: str = ""


@dataclass
class ExerciseResult:
    """One exercise's verdict: passed only when every test of the exercise passed."""

    id: str
    title: str
    points: int
    status: str
    message: str = ""
    tests: list[TestResult] = field(default_factory=list)

    @property
    def earned(self) -> int:
        return self.points if self.status == PASSED else 0


@dataclass
class CheckReport:
    """The result of checking one lesson: per-exercise results, or a file-level problem."""

    lesson: Lesson
    exercises_file: Path
    results: list[ExerciseResult]
    problem: str = ""
    status: str = "checked"

    @property
    def earned(self) -> int:
        return sum(r.earned for r in self.results)

    @property
    def total(self) -> int:
        return sum(r.points for r in self.results)

    def statuses(self) -> dict[str, str]:
        return {r.id: r.status for r in self.results}


def syntax_problem(path: Path) -> str:
    """``''`` when ``path`` compiles, else one sentence with file, line and message."""
    try:
        source = path.read_bytes()
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror}."
    try:
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        return f"syntax error in {path}, line {exc.lineno}: {exc.msg}."
    except ValueError as exc:
        return f"{path} cannot be compiled: {exc}."
    return ""


def run_exercise_tests(
    test_files: list[Path],
    lesson_root: Path,
    *,
    timeout: float = 300,
    extra_args: tuple[str, ...] = (),
    cwd: Path | None = None,
    warm: bool = False,
) -> list[TestResult]:
    """Run pytest on ``test_files`` with ``--lesson-root`` in a subprocess; per-test results.

    With ``warm``, the run is a fork of ``lessonlib.course.check_worker`` (torch already imported)
    when that worker can be reached or started, and a plain subprocess otherwise.
    """
    with tempfile.TemporaryDirectory(prefix="lessonlib-check-") as tmp:
        report = Path(tmp) / "report.json"
        args = [
            *map(str, test_files),
            f"--lesson-root={lesson_root}",
            f"--lessonlib-report={report}",
            "-q",
            "-p",
            "no:cacheprovider",
            "--no-header",
            "-rN",
            "--tb=no",
            *extra_args,
        ]
        # The verdicts come from our plugin's report, so pytest's tracebacks and third-party
        # plugins (xdist, …) would only cost start-up time.
        env = dict(os.environ, MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        where = cwd or project_root()
        if not (warm and _run_warm(args, where, env, timeout, test_files)):
            subprocess.run(
                [sys.executable, "-m", "pytest", *args],
                cwd=where,
                env=env,
                timeout=timeout,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        if not report.exists():
            return []
        raw = json.loads(report.read_text(encoding="utf-8"))
    return [TestResult(**r) for r in raw]


def _run_warm(args, cwd: Path, env: dict, timeout: float, test_files) -> bool:
    """Run pytest in the warm check worker; False when it cannot be used (then run cold)."""
    from lessonlib.course import check_worker

    if not check_worker.enabled():
        return False
    preload = check_worker.third_party_imports([Path(f) for f in test_files], cwd)
    try:
        check_worker.run_pytest(args, cwd, env, timeout, preload)
    except OSError:
        return False
    return True


def summarise(lesson: Lesson, tests: list[TestResult]) -> list[ExerciseResult]:
    """Fold per-test verdicts into one verdict per exercise, in meta.toml order."""
    results = []
    for ex in lesson.exercises:
        mine = [t for t in tests if t.exercise == ex.id]
        if not mine:
            status, message = FAILED, "no test ran for this exercise"
        elif all(t.outcome == "passed" for t in mine):
            status, message = PASSED, ""
        elif any(t.outcome == "not_started" for t in mine):
            status, message = NOT_STARTED, "raises NotImplementedError"
        else:
            first = next(t for t in mine if t.outcome != "passed")
            status, message = FAILED, first.message
        results.append(ExerciseResult(ex.id, ex.title, ex.points, status, message, mine))
    return results


def check_lesson(
    lesson: Lesson,
    lesson_root: Path | None = None,
    *,
    hidden: bool = False,
    timeout: float = 300,
    warm: bool = False,
) -> CheckReport:
    """Check ``lesson`` against the exercises.py under ``lesson_root`` (default: the course's)."""
    from lessonlib.course.pytest_plugin import locate_exercises

    root = lesson_root or project_root() / "lessons"
    path = locate_exercises(root, lesson.slug)
    problem = syntax_problem(path) if path.exists() else f"{path} does not exist."
    if problem:
        status = SYNTAX_ERROR if problem.startswith("syntax error") else FAILED
        results = [
            ExerciseResult(e.id, e.title, e.points, status, problem) for e in lesson.exercises
        ]
        return CheckReport(lesson, path, results, problem, status)
    try:
        tests = run_exercise_tests(
            lesson.test_files(hidden=hidden), root, timeout=timeout, warm=warm
        )
    except subprocess.TimeoutExpired:
        msg = f"the tests did not finish within {timeout:.0f} s (an endless loop?)."
        results = [
            ExerciseResult(e.id, e.title, e.points, TIMED_OUT, msg) for e in lesson.exercises
        ]
        return CheckReport(lesson, path, results, msg, TIMED_OUT)
    return CheckReport(lesson, path, summarise(lesson, tests))
