"""No borrowed answers: a graded function that hands its exercise to the course library fails it,
in ``check`` and in ``grade``, with one sentence saying what is off limits.

The library keeps the implementations the lesson pages use (``lessonlib.gradcam``,
``lessonlib.plotting.unnormalize``); they refuse to run while their own exercise is checked.
"""

from __future__ import annotations

import pytest

from lessonlib.classroom.grade_run import grade
from lessonlib.classroom.records import record_details
from lessonlib.course.catalog import find_lesson
from lessonlib.course.checking import check_files
from lessonlib.paths import project_root

WRAP_07 = """

def grad_cam(model, layer_name, images, targets):
    from lessonlib import gradcam as library

    return library.grad_cam(model, layer_name, images, targets)
"""
WRAP_02 = """

def unnormalize(images, mean, std):
    import lessonlib.plotting

    return lessonlib.plotting.unnormalize(images, mean, std)
"""
BORROWED = [
    ("07", "wrapper", "solution", WRAP_07, {"07.1"}),
    ("07", "import_star", "stub", "\nfrom lessonlib.gradcam import *  # noqa\n", "all"),
    ("02", "wrapper", "solution", WRAP_02, {"02.1"}),
]


def _source(lesson, base: str, tail: str) -> str:
    path = (
        project_root() / "solutions" / lesson.slug / "exercises.py"
        if base == "solution"
        else lesson.exercises_file
    )
    return path.read_text() + tail


@pytest.mark.parametrize("lesson_id", sorted({b[0] for b in BORROWED}))
def test_borrowed_answers_fail_in_check_and_in_grade(tmp_path, lesson_id):
    lesson = find_lesson(lesson_id)
    cases = [b for b in BORROWED if b[0] == lesson_id]
    subs = tmp_path / "subs"
    paths = []
    for _, name, base, tail, _ in cases:
        (subs / name).mkdir(parents=True)
        (subs / name / "exercises.py").write_text(_source(lesson, base, tail))
        paths.append(subs / name / "exercises.py")
    checked = dict(zip([c[1] for c in cases], check_files(lesson, paths), strict=True))
    graded = grade(subs, lesson_id, tmp_path / "out", jobs=2, timeout=120)
    rows = {
        record_details(r)["student"]: {e["id"]: e for e in record_details(r)["exercises"]}
        for r in graded.records
    }
    for _, name, base, _, borrowed in cases:
        wanted = {e.id for e in lesson.exercises} if borrowed == "all" else borrowed
        for result in checked[name].results:
            graded_ex = rows[name][result.id]
            if result.id in wanted:
                assert result.status != "passed" and graded_ex["earned"] == 0, (name, result)
                if base == "solution":
                    assert "off limits" in result.message, result.message
                    assert "off limits" in graded_ex["message"], graded_ex["message"]
            else:
                assert result.status == "passed" and graded_ex["status"] == "passed", (
                    name,
                    result,
                )
