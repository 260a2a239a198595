import jupytext

from lessonlib.course.catalog import find_lesson
from lessonlib.paths import project_root
from lessonlib.site.build import exercises_markdown, lesson_page_source, lessons_table_markdown


def test_a_lesson_page_is_the_lesson_plus_its_exercises_and_hints():
    lesson = find_lesson("01")
    page = lesson_page_source(lesson)
    assert lesson.script.read_text().strip() in page
    notebook = jupytext.reads(page, fmt="py:percent")
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds.count("code") >= 5 and kinds[-1] == "markdown"
    exercises = notebook.cells[-1].source
    for ex in lesson.exercises:
        assert f"{ex.id} — {ex.title}" in exercises and f"def {ex.function}(" in exercises
        for hint in ex.hints:
            assert hint.split(":")[0] in exercises
    assert exercises.count("<details>") == sum(len(ex.hints) for ex in lesson.exercises)


def test_the_page_never_contains_solution_code():
    lesson = find_lesson("01")
    page = exercises_markdown(lesson)
    solution = (project_root() / "solutions" / lesson.slug / "exercises.py").read_text()
    lines = [ln.strip() for ln in solution.splitlines()]
    bodies = [ln for ln in lines if ln.startswith("return ") and len(ln) > 12]
    assert bodies and not any(body in page for body in bodies)


def test_lessons_table_links_every_lesson_page():
    table = lessons_table_markdown([find_lesson("01")])
    assert "[01 — Autograd graphs](lessons/01_autograd_graphs.py)" in table
