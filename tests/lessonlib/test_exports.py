"""Gradescope bundle (run locally against a fake /autograder tree) and the Classroom workflow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import yaml

from lessonlib.course.catalog import find_lesson
from lessonlib.paths import project_root

ROOT = project_root()
LESSON = find_lesson("01")


def cli(*args: str, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "lessonlib", *args],
        text=True,
        capture_output=True,
        env=dict(os.environ, COLUMNS="160", **(env or {})),
        timeout=300,
    )


def test_gradescope_bundle_grades_a_submission_in_a_fake_autograder(tmp_path):
    bundle = tmp_path / "autograder.zip"
    made = cli("gradescope", "01", str(bundle))
    assert made.returncode == 0, made.stderr
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
        archive.extractall(tmp_path / "autograder" / "source")
    assert {"setup.sh", "run_autograder"} <= set(names)
    assert modes["run_autograder"] & 0o100 and modes["setup.sh"] & 0o100
    assert f"course/solutions/{LESSON.slug}/hidden.py" in names
    assert f"course/lessons/{LESSON.slug}/checks.py" in names
    assert not [n for n in names if n.endswith("solutions/" + LESSON.slug + "/exercises.py")]
    assert not [n for n in names if "__pycache__" in n]
    fake = tmp_path / "autograder"
    (fake / "submission").mkdir()
    shutil.copy(ROOT / "solutions" / LESSON.slug / "exercises.py", fake / "submission")
    run = subprocess.run(
        ["bash", str(fake / "source" / "run_autograder")],
        capture_output=True,
        text=True,
        env=dict(
            os.environ,
            LESSONLIB_AUTOGRADER_ROOT=str(fake),
            LESSONLIB_AUTOGRADER_PYTHON=sys.executable,
        ),
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    results = json.loads((fake / "results" / "results.json").read_text())
    assert results["score"] == LESSON.points
    assert [t["max_score"] for t in results["tests"]] == [e.points for e in LESSON.exercises]
    assert {t["visibility"] for t in results["tests"]} == {"visible"}


def test_classroom_workflow_has_one_step_per_exercise(tmp_path):
    made = cli("classroom", "--lesson", "01", env={"LESSONLIB_BUILD": str(tmp_path / "build")})
    assert made.returncode == 0, made.stderr
    path = tmp_path / "build" / "classroom" / ".github" / "workflows" / "classroom.yml"
    workflow = yaml.safe_load(path.read_text())
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    graded = [
        s
        for s in steps
        if s.get("uses", "").startswith("classroom-resources/autograding-command-grader")
    ]
    assert [(s["with"]["command"], s["with"]["max-score"]) for s in graded] == [
        (f"lessonlib check-exercise {e.id}", e.points) for e in LESSON.exercises
    ]
    reporter = steps[-1]
    assert reporter["with"]["runners"].split(",") == [s["id"] for s in graded]
    assert set(reporter["env"]) == {f"{s['id'].upper()}_RESULTS" for s in graded}
    assert not (ROOT / ".github").exists(), "nothing is written into the source tree"


def test_classroom_refuses_unknown_lessons(tmp_path):
    made = cli("classroom", "--lesson", "99", "--out", str(tmp_path))
    assert made.returncode == 2 and "no lesson 99" in made.stderr
