"""``lessonlib dev check`` catches a course whose pieces disagree (on a small fake course)."""

from __future__ import annotations

import textwrap

import pytest

from lessonlib.course.devcheck import dev_check

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
CHECKS = """
from functools import partial

from lessonlib.classroom.cases import Case, Inputs, expect


def number(x):
    return Inputs(x)


def doubled(got, inputs, files):
    expect(got == 2 * inputs.args[0], f"expected {2 * inputs.args[0]}, got {got!r}")


def negated(got, inputs, files):
    expect(got == -inputs.args[0], f"expected {-inputs.args[0]}, got {got!r}")


CASES = [
    Case("01.1", "three", partial(number, 3), doubled),
    Case("01.2", "three", partial(number, 3), negated),
]
"""
HIDDEN = """
from functools import partial

from lessonlib.classroom.cases import Case, lesson_checks

visible = lesson_checks("01")
CASES = [Case("01.1", "minus five", partial(visible.number, -5), visible.doubled)]
"""


@pytest.fixture
def fake_course(tmp_path, monkeypatch):
    def make(stub=STUB, solution=SOLUTION, checks=CHECKS, hidden=HIDDEN):
        root = tmp_path / "course"
        for folder in ("lessons/01_fake", "solutions/01_fake"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        (root / "lessons/01_fake/meta.toml").write_text(META)
        (root / "lessons/01_fake/exercises.py").write_text(textwrap.dedent(stub))
        (root / "lessons/01_fake/checks.py").write_text(checks)
        (root / "solutions/01_fake/exercises.py").write_text(solution)
        (root / "solutions/01_fake/hidden.py").write_text(hidden)
        monkeypatch.setenv("LESSONLIB_ROOT", str(root))
        return root

    return make


def test_a_consistent_course_passes(fake_course):
    report = dev_check(fake_course())
    assert report.ok, report.problems
    assert (report.lessons, report.exercises, report.tests) == (1, 2, 3)


def test_a_stub_that_passes_and_a_wrong_solution_are_reported(fake_course):
    stub = STUB.replace('raise NotImplementedError("TODO(01.2)")', "return -x")
    root = fake_course(stub=stub, solution=SOLUTION.replace("2 * x", "x + 2"))
    problems = "\n".join(dev_check(root).problems)
    assert "stub negate does not raise TODO(01.2)" in problems
    root = fake_course(solution=SOLUTION.replace("2 * x", "x + 2"))
    problems = "\n".join(dev_check(root).problems)
    assert "the solution fails 01.1 on three: " in problems
    assert "grade gives the solution 1/3" in problems


def test_ids_must_agree(fake_course):
    problems = "\n".join(dev_check(fake_course(checks=CHECKS.replace('"01.2"', '"01.3"'))).problems)
    assert "names unknown exercise 01.3" in problems
    problems = "\n".join(
        dev_check(
            fake_course(
                checks=CHECKS.replace(
                    '    Case("01.2", "three", partial(number, 3), negated),\n', ""
                )
            )
        ).problems
    )
    assert "no visible case checks exercise 01.2" in problems


def test_hidden_cases_may_not_build_their_own_inputs(fake_course):
    hidden = (
        HIDDEN.replace("partial(visible.number, -5)", "own") + "\n\ndef own():\n    return None\n"
    )
    hidden = hidden.replace("CASES = [", "def own():\n    return None\n\n\nCASES = [")
    problems = "\n".join(dev_check(fake_course(hidden=hidden)).problems)
    assert "hidden cases build their inputs with builders of the lesson's checks.py" in problems
