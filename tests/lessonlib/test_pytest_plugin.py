"""Plain pytest runs a lesson's cases (the same engine as `lessonlib check`): one test per case."""

from __future__ import annotations

import subprocess
import sys

from lessonlib.classroom.grading import load_cases
from lessonlib.course.catalog import find_lesson
from lessonlib.paths import project_root

LESSON = find_lesson("01")


def run_pytest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(LESSON.checks_file), "-q", *args],
        cwd=project_root(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_solution_passes_every_case_visible_and_hidden():
    _, specs = load_cases(LESSON, hidden=True)
    run = run_pytest("--lesson-root", "solutions", "--lesson-hidden")
    assert run.returncode == 0, run.stdout[-2000:]
    assert f"{len(specs)} passed" in run.stdout


def test_a_wrong_answer_fails_its_cases_with_the_judges_sentence(tmp_path):
    source = (project_root() / "solutions" / LESSON.slug / "exercises.py").read_text()
    folder = tmp_path / LESSON.slug
    folder.mkdir()
    (folder / "exercises.py").write_text(
        source.replace("return len(_nodes(output))", "return len(_nodes(output)) + 1")
    )
    run = run_pytest("--lesson-root", str(tmp_path), "-k", "01.2")
    assert run.returncode == 1
    assert "torchviz draws" in run.stdout and "counted more than once" in run.stdout
