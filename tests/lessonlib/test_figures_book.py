"""Captioned figures (lessonlib.figures) and the book hooks' pieces (lessonlib.site.book)."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lessonlib import figures  # noqa: E402
from lessonlib.course.catalog import load_lessons  # noqa: E402
from lessonlib.site import book  # noqa: E402


def test_figure_html_has_alt_numbered_caption_and_code():
    html = figures.figure_html([(b"png", 'a "red" bar', "")], 3, "the `make_dot` graph <b>")
    assert 'alt="a &quot;red&quot; bar"' in html
    assert (
        "<figcaption><strong>Figure 3.</strong> the <code>make_dot</code> graph &lt;b&gt;" in html
    )
    assert 'id="figure-3"' in html and "data:image/png;base64," in html


def test_panels_get_their_own_labels_under_one_caption():
    html = figures.figure_html([(b"a", "first", "depth 1"), (b"b", "second", "depth 2")], 1, "c")
    assert html.count("<img") == 2 and 'class="lesson-panels"' in html
    assert "<figcaption>depth 1</figcaption>" in html
    assert html.count("Figure 1.") == 1


def test_show_figure_outside_a_notebook_saves_numbers_and_closes(tmp_path, capsys):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    shown = figures.show_figure(fig, name="line", out_dir=tmp_path, caption="A line.", alt="line")
    assert shown is None  # a notebook cell ending with it shows no Out[…] with a path
    assert (tmp_path / "line.png").stat().st_size > 0
    assert not plt.fignum_exists(fig.number)
    out = capsys.readouterr().out
    assert re.match(r"Figure \d+\. A line\.", out)
    assert str(tmp_path) not in out.split("[")[0]


def test_show_figures_wants_one_alt_and_label_per_image(tmp_path):
    try:
        figures.show_figures([tmp_path], caption="c", alts=[], labels=["x"])
    except ValueError as err:
        assert "one alt text" in str(err)
    else:
        raise AssertionError("no error for a missing alt text")


def test_lesson_imports_list_the_learner_facing_helpers():
    found = book.lesson_imports(load_lessons())
    assert "grad_cam" in found["lessonlib.gradcam"]
    assert "start_tensorboard" in found["lessonlib.tensorboard"]
    assert "shapes_splits" in found["lessonlib.data"]  # used as data.shapes_splits(...)
    assert not any("progress" in module for module in found)


def test_usage_example_is_a_real_line_of_a_lesson():
    lesson_id, code = book.usage_example("read_scalars", load_lessons())
    lesson = next(x for x in load_lessons() if x.id == lesson_id)
    assert code in lesson.script.read_text(encoding="utf-8")


def test_syllabus_lists_every_exercise_with_points():
    lessons = load_lessons()
    text = book.syllabus_markdown(lessons)
    for lesson in lessons:
        assert f"### {lesson.id} — {lesson.title}" in text
        for ex in lesson.exercises:
            assert f"| {ex.id} {ex.title} | {ex.points} |" in text


def test_lesson_facts_link_prerequisite_lessons():
    lessons = {x.slug: x for x in load_lessons()}
    with_prereq = next(x for x in lessons.values() if any(p.isdigit() for p in x.prerequisites))
    html = book.lesson_facts_html(with_prereq, lessons)
    assert 'href="../' in html and "min" in html and 'href="lesson.py"' in html


def test_search_skips_copy_buttons_and_code():
    html = book.clean_for_search(
        '<div class="zeroclipboard-container"><span>Copied!</span></div>'
        '<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor" data-type="inline">'
    )
    assert html.count("data-search-exclude") == 2
