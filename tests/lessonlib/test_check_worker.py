"""The warm check worker: same verdicts as a cold pytest, edits seen at once, hangs killed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from lessonlib.course import check_worker
from lessonlib.course.catalog import find_lesson
from lessonlib.course.checking import check_lesson
from lessonlib.paths import project_root

ROOT = project_root()
LESSON = find_lesson("01")


def student_copy(tmp_path: Path, edit=lambda s: s) -> Path:
    folder = tmp_path / "student" / LESSON.slug
    folder.mkdir(parents=True, exist_ok=True)
    source = (ROOT / "solutions" / LESSON.slug / "exercises.py").read_text()
    (folder / "exercises.py").write_text(edit(source))
    return folder.parent


def test_preload_follows_reference_modules_and_leaves_threaded_libraries_out(tmp_path):
    checks = tmp_path / "checks.py"
    checks.write_text(
        "import torch, os\nfrom lessonlib.classroom.references.torchviz import torchviz_graph\n"
        "\ndef f():\n    import onnxruntime\n"
    )
    found = check_worker.third_party_imports([checks])
    assert "torch" in found and "pydot" in found and "networkx" in found
    assert "onnxruntime" not in found and "os" not in found


def test_warm_checks_agree_with_cold_ones_and_see_each_edit(worker_env, tmp_path):
    root = student_copy(tmp_path)
    cold = check_lesson(LESSON, root, warm=False).statuses()
    assert set(cold.values()) == {"passed"}
    assert check_lesson(LESSON, root, warm=True).statuses() == cold
    [sock] = worker_env.rglob("check-*.sock")  # the worker is up and serving

    broken = student_copy(tmp_path, lambda s: s.replace("return len(_nodes(output))", "return -1"))
    warm = check_lesson(LESSON, broken, warm=True)
    assert warm.statuses() == check_lesson(LESSON, broken, warm=False).statuses()
    assert warm.statuses()["01.2"] == "failed" and warm.statuses()["01.1"] == "passed"
    assert [p.name for p in worker_env.rglob("check-*.sock")] == [sock.name]  # one worker


def test_a_hanging_submission_times_out_and_its_child_is_killed(worker_env, tmp_path):
    root = student_copy(tmp_path, lambda s: s + "\nwhile True:\n    pass\n")
    check_lesson(LESSON, student_copy(tmp_path / "warmup"), warm=True)  # worker started
    start = time.monotonic()
    report = check_lesson(LESSON, root, warm=True, timeout=3)
    assert report.status == "timed out"
    assert time.monotonic() - start < 30
    [lock] = worker_env.rglob("*.lock")
    worker = int(lock.read_text())
    deadline = time.monotonic() + 10
    while children(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert children(worker) == []  # the forked pytest is gone; the worker lives on
    assert check_lesson(LESSON, student_copy(tmp_path / "again"), warm=True).earned == 8


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def test_a_socket_path_too_long_falls_back_at_once(worker_env, tmp_path, monkeypatch):
    deep = worker_env / ("x" * 90)
    deep.mkdir()
    monkeypatch.setenv("TMPDIR", str(deep))
    start = time.monotonic()
    assert check_lesson(LESSON, student_copy(tmp_path), warm=True).earned == 8
    assert time.monotonic() - start < 60 and not list(worker_env.rglob("*.sock"))


def test_the_cli_falls_back_to_a_cold_run_when_the_worker_cannot_start(worker_env, tmp_path):
    (worker_env / f"lessonlib-{os.getuid()}").mkdir(mode=0o755)  # not private: refused
    env = dict(os.environ, LESSONLIB_STATE=str(tmp_path / "state.json"))
    out = subprocess.run(
        [sys.executable, "-m", "lessonlib", "check", "01", "--root", str(student_copy(tmp_path))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "points: 8/8" in out.stdout
    assert not list(worker_env.rglob("*.sock"))


def test_an_idle_worker_exits_and_removes_its_socket(worker_env, tmp_path, monkeypatch):
    monkeypatch.setenv("LESSONLIB_CHECK_WORKER_IDLE", "1")
    assert check_lesson(LESSON, student_copy(tmp_path), warm=True).earned == 8
    deadline = time.monotonic() + 20
    while list(worker_env.rglob("*.sock")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not list(worker_env.rglob("*.sock"))
    [lock] = worker_env.rglob("*.lock")
    assert not check_worker._lock_holder_alive(lock.with_suffix(""))
