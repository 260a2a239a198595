"""``lessonlib dev check``: every stub fails, every solution passes, ids agree everywhere."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from lessonlib.course.catalog import Lesson, load_lessons
from lessonlib.course.checking import run_exercise_tests, syntax_problem
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


def exercise_markers(path: Path) -> list[tuple[str, int, str]]:
    """(exercise id, points, test name) for each ``@pytest.mark.exercise`` in a test file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            if isinstance(dec, ast.Call) and getattr(dec.func, "attr", None) == "exercise":
                ex_id = dec.args[0].value if dec.args else None
                points = next((k.value.value for k in dec.keywords if k.arg == "points"), 1)
                found.append((str(ex_id), int(points), node.name))
    return found


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
    points = {e.id: e.points for e in lesson.exercises}
    tested: set[str] = set()
    for path in lesson.test_files(root, hidden=True):
        for ex_id, pts, name in exercise_markers(path):
            if ex_id not in points:
                report.problems.append(f"{tag}: {path.name}::{name} marks unknown exercise {ex_id}")
            elif pts != points[ex_id]:
                want = points[ex_id]
                report.problems.append(
                    f"{tag}: {path.name}::{name} gives {ex_id} {pts} points, meta.toml {want}"
                )
            if "hidden" not in path.parts:
                tested.add(ex_id)
    for ex_id in meta_ids:
        if ex_id not in tested:
            report.problems.append(f"{tag}: exercise {ex_id} has no student-visible test")


def dev_check(root: Path | None = None, lesson_ids: list[str] | None = None) -> DevReport:
    """Run the static checks, then all exercise tests against stubs and against solutions."""
    root = root or project_root()
    lessons = [x for x in load_lessons(root) if not lesson_ids or x.id in lesson_ids]
    report = DevReport(lessons=len(lessons), exercises=sum(len(x.exercises) for x in lessons))
    for lesson in lessons:
        _static_checks(lesson, root, report)
    files = [p for x in lessons for p in x.test_files(root, hidden=True)]
    if not files:
        report.problems.append("no exercise tests found under tests/lessons")
        return report
    for label, lesson_root, want_pass in (
        ("stub", root / "lessons", False),
        ("solution", root / "solutions", True),
    ):
        results = run_exercise_tests(files, lesson_root, timeout=900, cwd=root)
        if not results:
            report.problems.append(f"the {label} run reported no tests (pytest failed to start?)")
            continue
        report.tests = max(report.tests, len(results))
        for r in results:
            passed = r.outcome == "passed"
            if want_pass and not passed:
                report.problems.append(f"solution fails {r.nodeid}: {r.message}")
            if not want_pass and passed:
                report.problems.append(
                    f"stub passes {r.nodeid}: the test does not test the exercise"
                )
    return report
