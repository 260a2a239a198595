"""A lesson runs once in a Jupyter kernel: output streamed, the executed notebook kept."""

from __future__ import annotations

import json

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
    assert "before" in result.log.read_text()
    with pytest.raises(LessonlibError, match=r"lesson 01 failed \(ZeroDivisionError"):
        run_stale_lessons([lesson], echo=lambda *_: None)
