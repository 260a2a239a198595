"""`lessonlib check` and `lessonlib grade` give the same verdict for every exercise.

For every lesson: the solution, the stub, the solution with each function stubbed, and the
solution with each function's answer bent (a seeded wrong variant) go through both runners;
on the visible cases their per-exercise verdicts and points must be identical.
"""

from __future__ import annotations

import pytest

from lessonlib.classroom.grade_run import grade
from lessonlib.classroom.records import record_details
from lessonlib.course.catalog import load_lessons
from lessonlib.course.checking import check_files
from lessonlib.paths import project_root

MUTATE = '''

def _lessonlib_bent(value):
    """A seeded wrong answer of the same kind as the right one."""
    import numpy as np
    import torch

    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 1.5 + 0.1
    if isinstance(value, str):
        return value[: len(value) // 2]
    if isinstance(value, list):
        return value[:-1] if value else [0]
    if isinstance(value, tuple):
        return tuple(_lessonlib_bent(list(value)))
    if isinstance(value, dict):
        return {key: _lessonlib_bent(item) for key, item in list(value.items())[:-1]}
    if isinstance(value, torch.Tensor):
        return value + 0.25 if value.is_floating_point() else value + 1
    if isinstance(value, np.ndarray):
        return value + 0.25
    return value
'''


def variants(lesson) -> dict[str, str]:
    solution = (project_root() / "solutions" / lesson.slug / "exercises.py").read_text()
    out = {"solution": solution, "stub": lesson.exercises_file.read_text()}
    for ex in lesson.exercises:
        name = ex.function
        out[f"stubbed_{name}"] = solution + (
            f"\n\ndef {name}(*args, **kwargs):\n    raise NotImplementedError('TODO')\n"
        )
        out[f"bent_{name}"] = (
            solution
            + MUTATE
            + (
                f"\n_right_{name} = {name}\n\n\ndef {name}(*args, **kwargs):\n"
                f"    return _lessonlib_bent(_right_{name}(*args, **kwargs))\n"
            )
        )
    return out


LESSONS = [x for x in load_lessons() if x.checks_file.is_file()]


@pytest.mark.parametrize("lesson", LESSONS, ids=[x.id for x in LESSONS])
def test_check_and_grade_agree_on_every_variant(tmp_path, lesson):
    subs = tmp_path / "submissions"
    sources = variants(lesson)
    paths = []
    for name, source in sources.items():
        (subs / name).mkdir(parents=True)
        path = subs / name / "exercises.py"
        path.write_text(source)
        paths.append(path)
    checked = dict(zip(sources, check_files(lesson, paths), strict=True))
    graded = grade(subs, lesson.id, tmp_path / "out", jobs=2, timeout=120, visible_only=True)
    by_grade = {
        record_details(r)["student"]: {e["id"]: e for e in record_details(r)["exercises"]}
        for r in graded.records
    }
    disagreements = []
    for name, report in checked.items():
        for result in report.results:
            mine = by_grade[name][result.id]
            same_status = (result.status == "passed") == (mine["status"] == "passed")
            if not same_status or result.earned != mine["earned"]:
                disagreements.append(
                    f"{name} {result.id}: check {result.status} {result.earned}, "
                    f"grade {mine['status']} {mine['earned']}"
                )
    assert not disagreements, "\n".join(disagreements)
    assert checked["solution"].earned == lesson.points
    assert checked["stub"].earned == 0
    for ex in lesson.exercises:
        stubbed = {r.id: r.status for r in checked[f"stubbed_{ex.function}"].results}
        assert stubbed[ex.id] == "not started", f"stubbing {ex.function} left {ex.id} {stubbed}"
