"""``lessonlib dev check``: every stub fails, every solution passes (through ``check`` and
``grade``), ids agree across stub, meta.toml, cases and solution."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from lessonlib.classroom.grading import load_cases
from lessonlib.course.catalog import Lesson, load_lessons
from lessonlib.course.checking import PASSED, check_files, syntax_problem
from lessonlib.errors import LessonlibError
from lessonlib.paths import project_root


@dataclass
class DevReport:
    """Problems found per lesson, plus counts for the summary line."""

    problems: list[str] = field(default_factory=list)
    lessons: int = 0
    exercises: int = 0
    tests: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _todo_ids(func: ast.FunctionDef) -> set[str]:
    """Ids in ``raise NotImplementedError("TODO(01.2)")`` inside a function."""
    ids = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            call = node.exc
            if getattr(call.func, "id", None) == "NotImplementedError" and call.args:
                arg = call.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    text = arg.value
                    if text.startswith("TODO(") and ")" in text:
                        ids.add(text[5 : text.index(")")])
    return ids


def _static_checks(lesson: Lesson, root: Path, report: DevReport) -> None:
    tag = f"lesson {lesson.id}"
    meta_ids = [e.id for e in lesson.exercises]
    if len(set(meta_ids)) != len(meta_ids):
        report.problems.append(f"{tag}: duplicate exercise ids in meta.toml")
    for ex in lesson.exercises:
        if not ex.id.startswith(f"{lesson.id}."):
            report.problems.append(f"{tag}: exercise id {ex.id} does not start with {lesson.id}.")
        if not ex.hints:
            report.problems.append(f"{tag}: exercise {ex.id} has no hints")
    stub_path = lesson.exercises_file
    sol_path = root / "solutions" / lesson.slug / "exercises.py"
    for label, path in (("stub", stub_path), ("solution", sol_path)):
        problem = syntax_problem(path) if path.exists() else f"{path} is missing"
        if problem:
            report.problems.append(f"{tag}: {label}: {problem}")
            return
    stub = _functions(ast.parse(stub_path.read_text(encoding="utf-8")))
    sol = _functions(ast.parse(sol_path.read_text(encoding="utf-8")))
    stub_todos = set().union(*(_todo_ids(f) for f in stub.values())) if stub else set()
    for ex in lesson.exercises:
        if ex.function not in stub:
            report.problems.append(f"{tag}: stub lacks function {ex.function} ({ex.id})")
        elif ex.id not in _todo_ids(stub[ex.function]):
            report.problems.append(f"{tag}: stub {ex.function} does not raise TODO({ex.id})")
        if ex.function not in sol:
            report.problems.append(f"{tag}: solution lacks function {ex.function} ({ex.id})")
        elif _todo_ids(sol[ex.function]):
            report.problems.append(f"{tag}: solution {ex.function} still raises a TODO")
    for extra in sorted(stub_todos - set(meta_ids)):
        report.problems.append(f"{tag}: stub has TODO({extra}) that meta.toml does not list")
    try:
        _, specs = load_cases(lesson, root, hidden=True)
    except LessonlibError as exc:
        report.problems.append(f"{tag}: {exc}")
        return
    report.tests += len(specs)


def _dynamic_checks(lesson: Lesson, root: Path, report: DevReport, jobs: int) -> None:
    """Stub and solution through both runners: ``check`` (visible + hidden) and ``grade``."""
    import tempfile

    from lessonlib.classroom.grade_run import grade

    tag = f"lesson {lesson.id}"
    stub, solution = lesson.exercises_file, root / "solutions" / lesson.slug / "exercises.py"
    try:
        reports = check_files(lesson, [stub, solution], hidden=True, timeout=900)
    except LessonlibError as exc:
        report.problems.append(f"{tag}: the checks could not run: {exc}")
        return
    for label, checked, want_pass in (
        ("stub", reports[0], False),
        ("solution", reports[1], True),
    ):
        for case in checked.cases or []:
            passed = case.outcome == PASSED
            if want_pass and not passed:
                report.problems.append(
                    f"{tag}: the solution fails {case.exercise} on {case.name}: {case.message}"
                )
            if not want_pass and passed:
                report.problems.append(
                    f"{tag}: the stub passes {case.exercise} on {case.name}: the case does not "
                    "test the exercise"
                )
        if checked.problem:
            report.problems.append(f"{tag}: check of the {label}: {checked.problem}")
    with tempfile.TemporaryDirectory(prefix="lessonlib-devcheck-") as tmp:
        subs = Path(tmp) / "submissions"
        for label, path in (("stub", stub), ("solution", solution)):
            (subs / label).mkdir(parents=True)
            (subs / label / "exercises.py").write_bytes(path.read_bytes())
        try:
            graded = grade(subs, lesson.id, Path(tmp) / "out", jobs=jobs, timeout=120)
        except LessonlibError as exc:
            report.problems.append(f"{tag}: grade could not run: {exc}")
            return
        scores = {r["extra_data"]["lessonlib"]["student"]: r["score"] for r in graded.records}
        if scores.get("solution") != lesson.points:
            report.problems.append(
                f"{tag}: grade gives the solution {scores.get('solution')}/{lesson.points}"
            )
        if scores.get("stub") != 0:
            report.problems.append(f"{tag}: grade gives the stub {scores.get('stub')} points")


def dev_check(
    root: Path | None = None, lesson_ids: list[str] | None = None, jobs: int = 2
) -> DevReport:
    """Static checks (ids agree across stub, meta.toml, cases and solution), then the stub and
    the solution through ``check`` and ``grade``: every stub fails, every solution passes."""
    root = root or project_root()
    lessons = [x for x in load_lessons(root) if not lesson_ids or x.id in lesson_ids]
    report = DevReport(lessons=len(lessons), exercises=sum(len(x.exercises) for x in lessons))
    for lesson in lessons:
        before = len(report.problems)
        _static_checks(lesson, root, report)
        if len(report.problems) == before:
            _dynamic_checks(lesson, root, report, jobs)
    return report
