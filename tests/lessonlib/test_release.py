"""``lessonlib release``: the student copy has no solutions or hidden tests, and its tests run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lessonlib.classroom.release import verify_release
from lessonlib.course.catalog import find_lesson
from lessonlib.paths import project_root

ROOT = project_root()
LESSON = find_lesson("01")


def cli(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "lessonlib", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        env=dict(os.environ, COLUMNS="160", **(env or {})),
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def student_copy(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "course"
    result = cli("release", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_no_solutions_and_no_hidden_tests(student_copy):
    assert not (student_copy / "solutions").exists()
    assert not (student_copy / "tests" / "hidden").exists()
    assert not list(student_copy.rglob("hidden.py"))
    solution = (ROOT / "solutions" / LESSON.slug / "exercises.py").read_bytes()
    assert all(p.read_bytes() != solution for p in student_copy.rglob("*.py"))
    assert verify_release(student_copy) == []


def test_it_has_what_a_student_needs(student_copy):
    for rel in (
        "lessons/01_autograd_graphs/lesson.py",
        "lessons/01_autograd_graphs/exercises.py",
        "lessons/01_autograd_graphs/meta.toml",
        "lessons/01_autograd_graphs/checks.py",
        "lessonlib/cli/__init__.py",
        "lessonlib/classroom/references/torchviz.py",
        "tests/conftest.py",
        "docs/index.md",
        "mkdocs.yml",
        "pyproject.toml",
        "README.md",
        "Makefile",
        "scripts/install-python.sh",
    ):
        assert (student_copy / rel).is_file(), rel
    makefile = (student_copy / "Makefile").read_text()
    assert "pytest lessons" in makefile and "dev check" not in makefile
    assert "--lesson-root solutions" not in makefile
    assert "Student copy" in (student_copy / "README.md").read_text()


def test_the_student_test_part_runs_and_reports_not_started(student_copy):
    env = dict(os.environ, LESSONLIB_ROOT=str(student_copy), COLUMNS="400")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", f"lessons/{LESSON.slug}", "-q", "-rf"],
        cwd=student_copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    failed = [ln for ln in run.stdout.splitlines() if ln.startswith("FAILED")]
    assert run.returncode == 1 and failed, run.stdout[-2000:]
    assert all("Failed: not started" in ln for ln in failed), failed[:3]
    assert {ln.split("::")[1].split()[0] for ln in failed} == {e.id for e in LESSON.exercises}


def test_check_exercise_passes_once_the_student_solves_it(student_copy, tmp_path):
    solved = tmp_path / "solved"
    shutil.copytree(student_copy, solved)
    shutil.copy(
        ROOT / "solutions" / LESSON.slug / "exercises.py",
        solved / "lessons" / LESSON.slug / "exercises.py",
    )
    env = {"LESSONLIB_ROOT": str(solved), "LESSONLIB_STATE": str(tmp_path / "state.json")}
    done = cli("check-exercise", "01.2", cwd=solved, env=env)
    assert done.returncode == 0 and "01.2" in done.stdout and "passed" in done.stdout


def test_release_refuses_a_solved_stub_and_a_full_folder(tmp_path):
    course = tmp_path / "course"
    for rel in (
        "lessons",
        "lessonlib",
        "tests/conftest.py",
        "tests/support",
        "pyproject.toml",
        "Makefile",
    ):
        source = ROOT / rel
        (course / rel).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, course / rel)
    shutil.copytree(ROOT / "solutions" / LESSON.slug, course / "solutions" / LESSON.slug)
    shutil.copy(
        ROOT / "solutions" / LESSON.slug / "exercises.py",
        course / "lessons" / LESSON.slug / "exercises.py",
    )
    out = cli("release", str(tmp_path / "out"), env={"LESSONLIB_ROOT": str(course)})
    assert out.returncode == 2 and "release refused" in out.stderr
    assert not (tmp_path / "out").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    out = cli("release", str(tmp_path / "full"))
    assert out.returncode == 2 and "not empty" in out.stderr
