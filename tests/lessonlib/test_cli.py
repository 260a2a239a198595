"""The lessonlib command as a learner uses it: real subprocesses, one state file per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lessonlib.course.catalog import find_lesson, load_lessons
from lessonlib.course.progress import file_digest, record_check
from lessonlib.paths import project_root

ROOT = project_root()


@pytest.fixture
def env(tmp_path, monkeypatch):
    values = dict(os.environ, LESSONLIB_STATE=str(tmp_path / "state.json"), COLUMNS="200")
    monkeypatch.setenv("LESSONLIB_STATE", values["LESSONLIB_STATE"])
    return values


def cli(*args, env, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "lessonlib", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_lists_the_learner_commands(env):
    out = cli("--help", env=env)
    assert out.returncode == 0
    for command in ("list", "run", "check", "hint", "progress", "docs", "dev"):
        assert command in out.stdout


def test_help_shows_switches_without_a_value(env):
    """`--serve` is a switch: help must not write it `--serve <bool>` (typer 0.29 did)."""
    for args in (("--help",), ("run", "--help"), ("docs", "--help")):
        out = cli(*args, env=env)
        assert out.returncode == 0 and "--help" in out.stdout
        assert "<bool>" not in out.stdout, out.stdout
    assert "--port" in out.stdout and "<int>" in out.stdout  # an option with a value keeps it


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (("run", "99"), "no lesson 99; lessons are 01"),
        (("check", "99"), "no lesson 99; lessons are 01"),
        (("hint", "01.9"), "no exercise 01.9; lesson 01's exercises are 01.1"),
        (("hint", "42.1"), "no lesson 42; lessons are 01"),
    ],
)
def test_bad_ids_get_one_sentence_and_exit_2(env, args, sentence):
    out = cli(*args, env=env)
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: {sentence}")
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_hint_reveals_the_next_hint_each_time(env):
    _, ex = find_lesson("01"), find_lesson("01").exercises[0]
    first = cli("hint", ex.id, env=env)
    second = cli("hint", ex.id, env=env)
    assert "hint 1/3" in first.stdout and "hint 2/3" in second.stdout
    assert ex.hints[0].split()[0] in first.stdout and ex.hints[1].split()[0] in second.stdout


def test_check_on_the_stubs_says_not_started(env):
    out = cli("check", "01", env=env)
    assert out.returncode == 1
    assert out.stdout.count("not started") == len(find_lesson("01").exercises)
    assert "points: 0/8" in out.stdout and "Traceback" not in out.stdout + out.stderr


def test_check_on_the_solutions_passes_everything(env):
    out = cli("check", "01", "--root", str(ROOT / "solutions"), env=env)
    assert out.returncode == 0, out.stdout
    assert "points: 8/8" in out.stdout and "not started" not in out.stdout


def test_syntax_error_names_file_and_line_and_other_lessons_still_work(env, tmp_path):
    broken = tmp_path / "student" / "01_autograd_graphs"
    broken.mkdir(parents=True)
    (broken / "exercises.py").write_text("def leaf_names(output, named):\n    return [\n")
    out = cli("check", "01", "--root", str(tmp_path / "student"), env=env)
    assert out.returncode == 1
    assert "syntax error in" in out.stdout and "exercises.py, line 2" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    assert cli("list", env=env).returncode == 0


def test_a_wrong_answer_fails_with_a_reason_and_a_runtime_error_shows_its_line(env, tmp_path):
    folder = tmp_path / "student" / "01_autograd_graphs"
    folder.mkdir(parents=True)
    source = (ROOT / "solutions/01_autograd_graphs/exercises.py").read_text()
    source = source.replace("return len(_nodes(output))", "return len(_nodes(output)) + 1")
    source = source.replace(
        '    lines = ["digraph backward {", "  node [shape=box];"]',
        '    raise ValueError("oops")',
    )
    (folder / "exercises.py").write_text(source)
    out = cli("check", "01", "--root", str(tmp_path / "student"), env=env)
    lines = {line.split()[1]: line for line in out.stdout.splitlines() if line.startswith("│ 01.")}
    assert "passed" in lines["01.1"] and "passed" in lines["01.4"]
    assert "failed" in lines["01.2"] and "you counted" in lines["01.2"]
    assert "failed" in lines["01.3"] and "ValueError: oops" in lines["01.3"]
    assert "exercises.py:" in lines["01.3"]
    assert "points: 3/8" in out.stdout
    flat = " ".join(out.stdout.replace("│", " ").split())  # a long cell folds onto more lines
    assert "hint 2 fits this: lessonlib hint 01.2 -n 2" in flat  # the check knows which hint


def test_list_and_progress_show_recorded_checks(env):
    for lesson in load_lessons():
        statuses = {ex.id: "not started" for ex in lesson.exercises}
        if lesson.id == "01":
            statuses["01.1"] = "passed"
        record_check(
            lesson.id, file_digest(lesson.exercises_file), statuses, 1 if lesson.id == "01" else 0
        )
    listed = cli("list", env=env)
    assert "1/4" in listed.stdout and "1/8" in listed.stdout
    prog = cli("progress", env=env)
    assert prog.returncode == 0
    total = sum(lesson.points for lesson in load_lessons())
    assert f"total: 1/{total} points" in prog.stdout
    assert "checking lesson" not in prog.stdout  # nothing changed: nothing re-checked
    record_check("03", "a digest of another version of the file", {}, 0)
    prog = cli("progress", env=env)  # into a pipe, where no progress bar is drawn: one line
    assert "checking lesson 03 (new or changed since the last check)…" in prog.stdout


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs dot to compare with")
def test_lesson_01_runs_without_dot_and_writes_dot_sources(env, tmp_path):
    env = dict(env, PATH=str(tmp_path / "no-tools"), LESSONLIB_BUILD=str(tmp_path / "build"))
    out = cli("run", "01", env=env, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    written = {p.name for p in Path(tmp_path / "build" / "01").iterdir()}
    assert {"expression.dot", "mlp.dot", "resnet18_depth3.dot"} <= written
    assert not any(name.endswith(".png") for name in written)
    # the lesson runs in a kernel whose output (warnings included) streams to the terminal
    assert "apt-get install graphviz" in out.stdout + out.stderr
