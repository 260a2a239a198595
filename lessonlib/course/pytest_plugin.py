"""Pytest collects every lesson's cases: ``lessons/NN_x/checks.py`` becomes one test per case.

Registered in pyproject's ``addopts``. Each lesson is checked once per session by the same
engine ``lessonlib check`` and ``lessonlib grade`` use (``lessonlib.course.checking``), and
each case reports its own verdict, so ``pytest`` can never disagree with them.

    pytest lessons                                  # your exercises (the stubs at first)
    pytest lessons/01_autograd_graphs -k 01.3       # one lesson, one exercise
    pytest --lesson-root solutions --lesson-hidden  # the course's own check (make test)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

_LESSON_DIR = re.compile(r"(\d\d)_[A-Za-z0-9_]+")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lessonlib")
    group.addoption(
        "--lesson-root",
        default=None,
        help="whose exercises.py to check: lessons (default), solutions, or a copy's folder",
    )
    group.addoption(
        "--lesson-hidden",
        action="store_true",
        help="also run the hidden cases of solutions/NN_x/hidden.py (instructors)",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.name == "checks.py" and _LESSON_DIR.fullmatch(file_path.parent.name):
        if file_path.parent.parent.name == "lessons":
            return LessonCases.from_parent(parent, path=file_path)
    return None


class LessonCases(pytest.File):
    """One lesson's cases, as pytest items (visible, and hidden with ``--lesson-hidden``)."""

    def collect(self):
        from lessonlib.classroom.grading import load_cases
        from lessonlib.course.catalog import find_lesson

        project = self.path.parent.parent.parent
        lesson = find_lesson(self.path.parent.name, project)
        hidden = bool(self.config.getoption("--lesson-hidden"))
        _, specs = load_cases(lesson, project, hidden=hidden)
        points = {e.id: e.points for e in lesson.exercises}
        for spec in specs:
            item = CaseItem.from_parent(
                self, name=f"{spec.exercise} {spec.name}", lesson=lesson, index=spec.index
            )
            item.add_marker(pytest.mark.exercise(spec.exercise, points=points[spec.exercise]))
            yield item


class CaseItem(pytest.Item):
    def __init__(self, *, lesson, index: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lesson = lesson
        self.index = index

    def _report(self):
        from lessonlib.course.checking import check_lesson

        cache = self.config.stash.setdefault(_REPORTS, {})
        if self.lesson.id not in cache:
            option = self.config.getoption("--lesson-root")
            root = Path(option) if option else self.lesson.path.parent
            if not root.is_absolute():
                root = Path(self.config.invocation_params.dir) / root
            hidden = bool(self.config.getoption("--lesson-hidden"))
            cache[self.lesson.id] = check_lesson(self.lesson, root, hidden=hidden, warm=False)
        return cache[self.lesson.id]

    def runtest(self) -> None:
        report = self._report()
        if report.problem:
            pytest.fail(report.problem, pytrace=False)
        case = next((c for c in report.cases or [] if c.index == self.index), None)
        if case is None:
            pytest.fail("not run: the exercise stopped at an earlier case.", pytrace=False)
        if case.outcome != "passed":
            text = case.message
            if not text.startswith(case.outcome):
                text = f"{case.outcome}: {text}"
            if case.hint and case.outcome == "failed":
                text += f" (the hint that fits: lessonlib hint {case.exercise} -n {case.hint})"
            pytest.fail(text, pytrace=False)

    def reportinfo(self):
        return self.path, None, f"{self.lesson.id} {self.name}"


_REPORTS = pytest.StashKey[dict]()
