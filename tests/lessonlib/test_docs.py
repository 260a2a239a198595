import jupytext

from lessonlib.course.catalog import find_lesson
from lessonlib.paths import project_root
from lessonlib.site.build import (
    exercises_markdown,
    lesson_page_notebook,
    lessons_table_markdown,
    verbatim_html,
)


def test_a_lesson_page_is_the_executed_lesson_plus_download_and_exercises():
    lesson = find_lesson("01")
    executed = jupytext.read(lesson.script, fmt="py:percent")  # stands in for the executed one
    page = lesson_page_notebook(lesson, executed)
    kinds = [cell.cell_type for cell in page.cells]
    assert kinds.count("code") == [c.cell_type for c in executed.cells].count("code") >= 5
    assert kinds[-1] == "markdown" and len(page.cells) == len(executed.cells) + 2
    download = page.cells[1].source
    assert 'href="01_autograd_graphs.ipynb"' in download and "Download the notebook" in download
    assert "jupyter lab" in download
    exercises = page.cells[-1].source
    for ex in lesson.exercises:
        assert f"{ex.id} — {ex.title}" in exercises and f"def {ex.function}(" in exercises
        for hint in ex.hints:
            assert verbatim_html(hint) in exercises
    assert exercises.count("<details>") == sum(len(ex.hints) for ex in lesson.exercises)
    assert [c["id"] for c in page.cells] == [f"cell-{i}" for i in range(len(page.cells))]


def test_hints_are_rendered_as_written():
    html = verbatim_html('collect type(node).__name__; write n0 [label="Add"]; `a < b`')
    assert "__name__" in html and '[label="Add"]' in html
    assert "<code>a &lt; b</code>" in html


def test_the_page_never_contains_solution_code():
    lesson = find_lesson("01")
    page = exercises_markdown(lesson)
    solution = (project_root() / "solutions" / lesson.slug / "exercises.py").read_text()
    lines = [ln.strip() for ln in solution.splitlines()]
    bodies = [ln for ln in lines if ln.startswith("return ") and len(ln) > 12]
    assert bodies and not any(body in page for body in bodies)


def test_lessons_table_links_every_lesson_page():
    table = lessons_table_markdown([find_lesson("01")])
    assert "[01 — Autograd graphs](lessons/01_autograd_graphs.ipynb)" in table
