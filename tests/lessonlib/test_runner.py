"""A lesson runs once in a Jupyter kernel: output streamed, the executed notebook kept."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from lessonlib.course.catalog import find_lesson
from lessonlib.course.runner import notebook_is_current, notebook_path, run_lesson
from lessonlib.errors import LessonlibError
from lessonlib.site.build import run_stale_lessons

GOOD = """# %% [markdown]
# # Lesson 01 — A tiny lesson

# %%
import matplotlib.pyplot as plt
from lessonlib.paths import build_dir

print("hello from the kernel")
(build_dir("01") / "note.txt").write_text("written")

# %%
plt.plot([0, 1], [1, 0])
plt.show()
"""
BAD = "# %%\nprint('before')\n\n# %%\n1 / 0\n"


@pytest.fixture
def course(tmp_path, monkeypatch):
    folder = tmp_path / "lessons" / "01_tiny"
    folder.mkdir(parents=True)
    (folder / "meta.toml").write_text('title = "Tiny"\n')
    (folder / "lesson.py").write_text(GOOD)
    monkeypatch.setenv("LESSONLIB_ROOT", str(tmp_path))
    monkeypatch.delenv("LESSONLIB_BUILD", raising=False)
    return folder


def test_a_run_streams_output_and_keeps_the_executed_notebook(course, capsys):
    lesson = find_lesson("1")
    result = run_lesson(lesson)
    assert result.ok, result.error
    assert "hello from the kernel" in capsys.readouterr().out
    nb = json.loads(notebook_path(lesson).read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert any("hello from the kernel" in "".join(o.get("text", "")) for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the figure is embedded
    assert [p.name for p in result.artifacts] == ["note.txt"]
    assert notebook_is_current(lesson)
    (course / "lesson.py").write_text(GOOD + "\nprint('changed')\n")
    assert not notebook_is_current(lesson)  # the site would run it again


def test_a_failing_lesson_reports_its_own_error_and_leaves_no_notebook(course):
    (course / "lesson.py").write_text(BAD)
    lesson = find_lesson("01")
    result = run_lesson(lesson, capture=True)
    assert not result.ok and result.error == "ZeroDivisionError: division by zero"
    assert not notebook_path(lesson).exists()
    log = result.log.read_text()
    assert "before" in log and "ZeroDivisionError" in log
    assert "\x1b[" not in log  # the kernel's coloured traceback, without its colour codes
    with pytest.raises(LessonlibError, match=r"lesson 01 failed \(ZeroDivisionError"):
        run_stale_lessons([lesson], echo=lambda *_: None)


THREADS = """# %% [markdown]
# # Lesson {id} — reports its threads

# %%
import os

from lessonlib.paths import build_dir

(build_dir("{id}") / "threads.txt").write_text(os.environ.get("OMP_NUM_THREADS", "unset"))
"""


def _lesson(root, number: str, text: str, run_seconds: int = 0):
    folder = root / "lessons" / f"{number}_l{number}"
    folder.mkdir(parents=True)
    (folder / "meta.toml").write_text(f'title = "L{number}"\nrun_seconds = {run_seconds}\n')
    (folder / "lesson.py").write_text(text)
    return folder


def test_lessons_run_side_by_side_longest_first_each_with_its_share_of_threads(
    tmp_path, monkeypatch
):
    from lessonlib.course.catalog import load_lessons
    from lessonlib.course.runner import run_lessons
    from lessonlib.paths import build_dir

    monkeypatch.setenv("LESSONLIB_ROOT", str(tmp_path))
    monkeypatch.delenv("LESSONLIB_BUILD", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    for number, seconds in (("01", 1), ("02", 30), ("03", 5)):
        _lesson(tmp_path, number, THREADS.replace("{id}", number), seconds)
    started, ended = [], []
    results = run_lessons(
        load_lessons(), jobs=2, on_start=lambda x: started.append(x.id), on_done=ended.append
    )
    assert started == ["02", "03", "01"]  # the meta.toml estimates: longest first
    assert sorted(r.lesson.id for r in results) == ["01", "02", "03"]
    assert all(r.ok for r in results) and results == ended
    for number in ("01", "02", "03"):
        assert (build_dir(number) / "threads.txt").read_text() == "1"  # 2 CPUs, 2 at a time
        assert notebook_path(find_lesson(number)).exists()


def test_after_a_failure_no_further_lesson_starts(tmp_path, monkeypatch):
    from lessonlib.course.catalog import load_lessons
    from lessonlib.course.runner import run_lessons

    monkeypatch.setenv("LESSONLIB_ROOT", str(tmp_path))
    monkeypatch.delenv("LESSONLIB_BUILD", raising=False)
    _lesson(tmp_path, "01", BAD, 9)
    _lesson(tmp_path, "02", GOOD.replace("Lesson 01", "Lesson 02").replace('"01"', '"02"'), 1)
    _lesson(tmp_path, "03", GOOD.replace("Lesson 01", "Lesson 03").replace('"01"', '"03"'), 0)
    results = run_lessons(load_lessons(), jobs=1, stop_on_failure=True)
    assert [(r.lesson.id, r.ok) for r in results] == [("01", False)]
    assert not notebook_path(find_lesson("03")).exists()  # never started
    with pytest.raises(LessonlibError, match=r"lesson 01 failed"):  # the site stops on it
        run_stale_lessons(load_lessons(), echo=lambda *_: None)


CLEANUP = """# %%
import atexit
import tempfile
from pathlib import Path

from lessonlib.paths import build_dir

scratch = tempfile.TemporaryDirectory()  # left for its finalizer to remove at exit
(build_dir("01") / "scratch.txt").write_text(scratch.name)
atexit.register(lambda: (build_dir("01") / "atexit.txt").write_text("stopped my servers"))
"""


def test_the_kernel_exits_fast_but_runs_the_lessons_exit_handlers(course):
    """kernel_exit skips the interpreter's teardown, not what a lesson left for exit time."""
    (course / "lesson.py").write_text(CLEANUP)
    lesson = find_lesson("01")
    result = run_lesson(lesson, capture=True)
    assert result.ok, result.error
    out = notebook_path(lesson).parent
    assert (out / "atexit.txt").read_text() == "stopped my servers"
    scratch = (out / "scratch.txt").read_text()
    assert scratch and not Path(scratch).exists()  # the temporary folder was removed


TRANSPORT = """# %%
from ipykernel.kernelapp import IPKernelApp

app = IPKernelApp.instance()
print("transport", app.transport, app.ip)
"""


def test_the_kernel_talks_over_unix_sockets_in_a_folder_of_its_own(course):
    """No TCP ports to lose to another process between choosing them and binding them."""
    (course / "lesson.py").write_text(TRANSPORT)
    result = run_lesson(find_lesson("01"), capture=True)
    assert result.ok, result.error
    words = result.log.read_text().split()
    transport, prefix = words[words.index("transport") + 1 :][:2]
    assert transport == "ipc" and Path(prefix).parent.name.startswith("lessonlib-kernel-")
    assert not Path(prefix).parent.exists()  # removed with its sockets after the run


def test_docs_serve_watches_lessons_and_reruns_a_saved_lesson(course, monkeypatch, capsys):
    """`lessonlib docs --serve`: mkdocs watches lessons/, each rebuild runs stale lessons."""
    from lessonlib.site import build

    commands = []

    class Server:  # stands in for `mkdocs serve`
        def __init__(self, cmd, **kw):
            commands.append((cmd, kw))

        def wait(self):
            return 0

    monkeypatch.setattr(build, "subprocess", SimpleNamespace(Popen=Server))
    build.serve_site(port=8123)
    (cmd, kw), lesson = commands[0], find_lesson("01")
    assert cmd[cmd.index("--watch") + 1] == str(course.parent) and kw["env"]["LESSONLIB_SERVE"]
    assert notebook_is_current(lesson)  # run before serving

    (course / "lesson.py").write_text(GOOD + "\nprint('saved again')\n")  # the learner saves
    build.rerun_stale_lessons_while_serving()  # not serving: nothing runs
    assert not notebook_is_current(lesson)
    monkeypatch.setenv("LESSONLIB_SERVE", "1")
    build.rerun_stale_lessons_while_serving()  # what on_config does before each rebuild
    assert notebook_is_current(lesson)

    (course / "lesson.py").write_text(BAD)
    build.rerun_stale_lessons_while_serving()  # a broken lesson: one sentence, no exception
    assert "lesson 01 failed (ZeroDivisionError" in capsys.readouterr().err
