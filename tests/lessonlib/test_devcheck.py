"""``lessonlib dev check`` catches a course whose pieces disagree (on a small fake course)."""

from __future__ import annotations

import shutil
import textwrap

from lessonlib.course.devcheck import dev_check, exercise_markers
from lessonlib.paths import project_root

META = """
title = "Fake"
[[exercises]]
id = "01.1"
title = "Double"
function = "double"
points = 2
hints = ["multiply"]
[[exercises]]
id = "01.2"
title = "Negate"
function = "negate"
points = 1
hints = ["minus"]
"""
STUB = """
def double(x):
    raise NotImplementedError("TODO(01.1)")

def negate(x):
    raise NotImplementedError("TODO(01.2)")
"""
SOLUTION = "def double(x):\n    return 2 * x\n\ndef negate(x):\n    return -x\n"
TESTS = """
import pytest

@pytest.mark.exercise("01.1", points=2)
def test_double(exercises):
    assert exercises.double(3) == 6

@pytest.mark.exercise("01.2", points=1)
def test_negate(exercises):
    assert exercises.negate(3) == -3
"""


def fake_course(tmp_path, meta=META, stub=STUB, solution=SOLUTION, tests=TESTS):
    root = tmp_path / "course"
    for folder in ("lessons/01_fake", "solutions/01_fake", "tests/lessons"):
        (root / folder).mkdir(parents=True)
    shutil.copy(project_root() / "tests" / "conftest.py", root / "tests" / "conftest.py")
    (root / "pytest.ini").write_text(
        "[pytest]\naddopts = -p lessonlib.course.pytest_plugin\n"
        "markers =\n    exercise(id, points): x\n"
    )
    (root / "lessons/01_fake/meta.toml").write_text(meta)
    (root / "lessons/01_fake/exercises.py").write_text(textwrap.dedent(stub))
    (root / "solutions/01_fake/exercises.py").write_text(solution)
    (root / "tests/lessons/test_01_fake.py").write_text(tests)
    return root


def test_a_consistent_course_passes(tmp_path):
    report = dev_check(fake_course(tmp_path))
    assert report.ok, report.problems
    assert (report.lessons, report.exercises, report.tests) == (1, 2, 2)


def test_a_stub_that_passes_and_a_wrong_solution_are_reported(tmp_path):
    stub = STUB.replace('raise NotImplementedError("TODO(01.2)")', "return -x")
    root = fake_course(tmp_path, stub=stub, solution=SOLUTION.replace("2 * x", "x + 2"))
    problems = "\n".join(dev_check(root).problems)
    assert "stub passes tests/lessons/test_01_fake.py::test_negate" in problems
    assert "solution fails tests/lessons/test_01_fake.py::test_double" in problems
    assert "stub negate does not raise TODO(01.2)" in problems


def test_ids_and_points_must_agree(tmp_path):
    tests = TESTS.replace('"01.2", points=1', '"01.3", points=1').replace("points=2", "points=5")
    problems = "\n".join(dev_check(fake_course(tmp_path, tests=tests)).problems)
    assert "marks unknown exercise 01.3" in problems
    assert "gives 01.1 5 points, meta.toml 2" in problems
    assert "exercise 01.2 has no student-visible test" in problems


def test_exercise_markers_are_read_statically():
    path = project_root() / "tests/lessons/test_01_autograd_graphs.py"
    ids = {ex_id for ex_id, _, _ in exercise_markers(path)}
    assert ids == {"01.1", "01.2", "01.3", "01.4"}
