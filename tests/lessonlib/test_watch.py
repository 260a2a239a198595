"""``lessonlib watch`` in a real terminal (tmux): a save is re-checked, keys work, errors pass."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from lessonlib.paths import project_root

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
LESSON = "01_autograd_graphs"


def _screen(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=False
    ).stdout


def _wait_for(session: str, text: str, timeout: float = 60) -> str:
    end = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < end:
        screen = _screen(session)
        if text in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not on screen after {timeout} s:\n{screen}")


@pytest.fixture
def course(tmp_path) -> Path:
    """A learner's copy of lesson 01's exercises (the course's own file is never touched)."""
    lessons = tmp_path / "lessons"
    (lessons / LESSON).mkdir(parents=True)
    shutil.copy(project_root() / "lessons" / LESSON / "exercises.py", lessons / LESSON)
    return lessons


@pytest.fixture
def session(course, tmp_path):
    name = f"lltest-{uuid.uuid4().hex[:8]}"
    lessonlib = Path(sys.executable).with_name("lessonlib")
    state = tmp_path / "state.json"
    command = (
        f"cd {project_root()} && LESSONLIB_STATE={state} {lessonlib} watch 1 --root {course}; "
        "echo watch-exited; sleep 60"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "160", "-y", "40", command], check=True
    )
    try:
        yield name
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], check=False)


def test_watch_rechecks_on_save_survives_a_syntax_error_and_answers_keys(course, session):
    exercises = course / LESSON / "exercises.py"
    original = exercises.read_text()
    screen = _wait_for(session, "h: next hint for 01.1")
    assert "01.1 Find the leaf tensors" in screen and "not started" in screen

    exercises.write_text(original + "\ndef broken(:\n")
    screen = _wait_for(session, "syntax error in")
    assert "line" in screen

    solved = (project_root() / "solutions" / LESSON / "exercises.py").read_text()
    solved = solved.replace("from __future__ import annotations", "")
    exercises.write_text(original + "\n\n" + solved)
    # The verdict lines and the summary line under them may reach the screen in separate
    # frames, so wait for the summary (the last line drawn) and then read the verdicts.
    # How fast the verdict appears (the ≤ 2 s target) is measured by benchmarks/bench_watch.py.
    screen = _wait_for(session, "lesson 01 done: 8/8 points")
    assert "✓ 01.1" in screen and "✓ 01.3" in screen, screen

    exercises.write_text(original)
    _wait_for(session, "h: next hint for 01.1")
    subprocess.run(["tmux", "send-keys", "-t", session, "h"], check=True)
    screen = _wait_for(session, "01.1 — hint 1/3")
    assert "AccumulateGrad" in screen

    subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
    _wait_for(session, "watch-exited", timeout=10)


def test_watch_shows_the_failing_exercise_before_one_not_started():
    """A learner who saved a wrong 01.2 with 01.1 untouched reads why 01.2 failed."""
    from types import SimpleNamespace as R

    from lessonlib.course.watch import first_unfinished

    def report(*statuses):
        return R(results=[R(id=f"01.{i}", status=s) for i, s in enumerate(statuses, 1)])

    assert first_unfinished(report("not started", "failed", "not started")).id == "01.2"
    assert first_unfinished(report("passed", "not started", "failed")).id == "01.3"
    assert first_unfinished(report("passed", "not started", "not started")).id == "01.2"
    assert first_unfinished(report("passed", "passed")) is None
