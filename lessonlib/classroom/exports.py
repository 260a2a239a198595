"""Hand grading to the engines classes already use: Gradescope and GitHub Classroom.

* ``gradescope_bundle`` writes an autograder .zip whose ``run_autograder`` copies the
  submission into a one-student folder and runs ``lessonlib grade`` on it — the same
  sandbox, cases and feedback as on the teacher's machine — then moves that student's
  results.json to ``/autograder/results/``. ``LESSONLIB_AUTOGRADER_ROOT`` replaces
  ``/autograder`` (to try the bundle locally); ``LESSONLIB_AUTOGRADER_PYTHON`` picks the
  Python that has the course installed.
* ``classroom_workflow`` writes ``.github/workflows/classroom.yml``: one autograding step per
  exercise, worth its points, each running ``lessonlib check-exercise NN.k`` on the visible
  cases in the student's own repository (hidden cases need ``grade`` or Gradescope).
"""

from __future__ import annotations

import io
import re
import tomllib
import zipfile
from pathlib import Path

from lessonlib.classroom.release import shipped_files
from lessonlib.course.catalog import find_exercise, find_lesson, load_lessons, normalize_lesson_id
from lessonlib.errors import LessonlibError
from lessonlib.paths import build_dir, project_root

SETUP_SH = """#!/usr/bin/env bash
# Gradescope builds the autograder image with this (as root, once per upload).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3.11 python3.11-venv graphviz
cd /autograder/source/course
python3.11 -m venv /autograder/venv
# CPU wheels: the autograder has no GPU, and they are a tenth of the size.
/autograder/venv/bin/python -m pip install --index-url https://download.pytorch.org/whl/cpu \\
  {torch_pins}
bash scripts/install-python.sh python3.11 /autograder/venv
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this once per submission. It grades /autograder/submission with the same
# sandboxed grader as `lessonlib grade` and writes /autograder/results/results.json.
set -uo pipefail
ROOT="${{LESSONLIB_AUTOGRADER_ROOT:-/autograder}}"
COURSE="$ROOT/source/course"
PY="${{LESSONLIB_AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}}"
LESSON="{lesson}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/submissions" "$ROOT/results"
# A copy (links stay links, which the grader refuses to follow) under a fixed student id.
cp -a "$ROOT/submission" "$WORK/submissions/submission"
if LESSONLIB_ROOT="$COURSE" "$PY" -m lessonlib grade "$WORK/submissions" --lesson "$LESSON" \\
    --out "$WORK/out" --jobs 1 --timeout {timeout} >"$WORK/grade.log" 2>&1 \\
    && [[ -f "$WORK/out/results/submission.json" ]]; then
  cp "$WORK/out/results/submission.json" "$ROOT/results/results.json"
else
  tail -20 "$WORK/grade.log" >&2
  "$PY" -c 'import json, sys; json.dump({{"score": 0, "output": "The autograder itself failed; \
your teacher has been told. Nothing is wrong with your upload until they say so."}}, \
open(sys.argv[1], "w"))' "$ROOT/results/results.json"
fi
"""


def _torch_pins(root: Path) -> str:
    deps = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    pins = [d for d in deps["project"]["dependencies"] if re.match(r"torch(vision)?==", d)]
    return " ".join(pins) or "torch torchvision"


def _zip_info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def gradescope_bundle(lesson_id: str, out_zip: Path, *, timeout: float = 120.0) -> Path:
    """Write the Gradescope autograder .zip for one lesson; returns its path."""
    from lessonlib.classroom.grading import case_file

    root = project_root()
    lesson = find_lesson(lesson_id)
    if not case_file(lesson).is_file():
        raise LessonlibError(
            f"lesson {lesson.id} has no cases (lessons/{lesson.slug}/checks.py); write them first."
        )
    out_zip = Path(out_zip)
    if out_zip.suffix != ".zip":
        raise LessonlibError(f"{out_zip} should end in .zip (Gradescope uploads a zip).")
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            _zip_info("setup.sh", 0o755), SETUP_SH.format(torch_pins=_torch_pins(root))
        )
        archive.writestr(
            _zip_info("run_autograder", 0o755),
            RUN_AUTOGRADER.format(lesson=lesson.id, timeout=f"{timeout:g}"),
        )
        for path in shipped_files(root, hidden_cases=True):
            name = path.relative_to(root).as_posix()
            mode = 0o755 if path.stat().st_mode & 0o100 else 0o644
            archive.writestr(_zip_info(f"course/{name}", mode), path.read_bytes())
    out_zip.write_bytes(buffer.getvalue())
    return out_zip


# ---------------------------------------------------------------- GitHub Classroom


def _literal_blocks():
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value: str):
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return Dumper


def _step_id(exercise_id: str) -> str:
    return "ex-" + exercise_id.replace(".", "-")


def classroom_workflow(
    out: Path | None = None, lesson_ids: list[str] | None = None
) -> tuple[Path, int]:
    """Write ``<out>/.github/workflows/classroom.yml`` (default out: build/classroom)."""
    import yaml

    lessons = load_lessons()
    if lesson_ids:
        wanted = {normalize_lesson_id(x) for x in lesson_ids}
        unknown = wanted - {lesson.id for lesson in lessons}
        if unknown:
            raise LessonlibError(
                f"no lesson {', '.join(sorted(unknown))}; lessons are "
                f"{', '.join(lesson.id for lesson in lessons)}."
            )
        lessons = [lesson for lesson in lessons if lesson.id in wanted]
    root = project_root()
    torch_pins = _torch_pins(root)
    steps: list[dict] = [
        {"name": "Check out the student's repository", "uses": "actions/checkout@v4"},
        {
            "name": "Python 3.11",
            "uses": "actions/setup-python@v5",
            "with": {"python-version": "3.11"},
        },
        {
            "name": "Install the course (CPU wheels) and graphviz",
            "run": "sudo apt-get update\n"
            "sudo apt-get install -y --no-install-recommends graphviz\n"
            "python -m venv .venv\n"
            ".venv/bin/python -m pip install --index-url "
            f"https://download.pytorch.org/whl/cpu {torch_pins}\n"
            "bash scripts/install-python.sh python .venv\n"
            'echo "$PWD/.venv/bin" >> "$GITHUB_PATH"\n',
        },
    ]
    runners = []
    for lesson in lessons:
        for ex in lesson.exercises:
            name = f"{ex.id} {ex.title}"
            steps.append(
                {
                    "name": name,
                    "id": _step_id(ex.id),
                    "uses": "classroom-resources/autograding-command-grader@v1",
                    "with": {
                        "test-name": name,
                        "setup-command": "",
                        "command": f"lessonlib check-exercise {ex.id}",
                        "timeout": 10,
                        "max-score": ex.points,
                    },
                }
            )
            runners.append(_step_id(ex.id))
    if not runners:
        raise LessonlibError("no exercises to grade: the course has no lessons with exercises.")
    steps.append(
        {
            "name": "Autograding Reporter",
            "uses": "classroom-resources/autograding-grading-reporter@v1",
            "env": {f"{r.upper()}_RESULTS": f"${{{{steps.{r}.outputs.result}}}}" for r in runners},
            "with": {"runners": ",".join(runners)},
        }
    )
    workflow = {
        "name": "Autograding Tests",
        "on": ["push", "workflow_dispatch", "repository_dispatch"],
        "permissions": {"checks": "write", "actions": "read", "contents": "read"},
        "jobs": {
            "run-autograding-tests": {
                "runs-on": "ubuntu-latest",
                "if": "github.actor != 'github-classroom[bot]'",
                "steps": steps,
            }
        },
    }
    folder = Path(out) if out is not None else build_dir("classroom")
    if folder.resolve() == root or folder.resolve().is_relative_to(root / "lessons"):
        raise LessonlibError(
            "write the workflow outside the course's source tree (default: "
            "build/classroom), then copy it into the template repository."
        )
    target = folder / ".github" / "workflows" / "classroom.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# GitHub Classroom autograding, written by `lessonlib classroom`: one step per "
        "exercise, worth its points.\n# It scores the VISIBLE cases only (lessons/NN_x/checks.py, "
        "in the student's own repository);\n# hidden cases need `lessonlib grade` or the "
        "Gradescope bundle (`lessonlib gradescope`).\n"
    )
    target.write_text(
        header + yaml.dump(workflow, Dumper=_literal_blocks(), sort_keys=False, width=100),
        encoding="utf-8",
    )
    return target, len(runners)


def check_exercise(exercise_id: str) -> tuple[bool, str]:
    """(passed, one line) for one exercise against the visible tests, on the learner's file."""
    from lessonlib.course.checking import PASSED, check_lesson

    lesson, ex = find_exercise(exercise_id)
    report = check_lesson(lesson)
    result = next(r for r in report.results if r.id == ex.id)
    passed = result.status == PASSED
    detail = "" if passed else f": {result.message or report.problem}"
    return passed, f"{ex.id} {ex.title}: {result.status}{detail}"
