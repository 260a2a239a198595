"""mkdocs hooks that make the site read as a book.

Named in mkdocs.yml under ``hooks:`` next to ``hooks.py`` (which adds the lesson pages). For
each lesson page: a box under the title with the time it takes, what to know first and
links to its source files (copied next to the page); search excerpts without the copy
buttons' "Copied!" or code dumps. For the hand-written pages: ``<!-- syllabus -->`` becomes
every lesson's objectives, time, prerequisites and exercises (from ``meta.toml``), and
``<!-- next-lesson -->`` a link to the first lesson. The previous/next links at the end of
each page are the theme's (``navigation.footer``); the figures' zoom is ``docs/assets/book.js``.
"""

from __future__ import annotations

import functools
import html as html_lib
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from lessonlib.course.catalog import Lesson, load_lessons

LESSON_DOCS = "lessons"
SOURCE_FILES = ("lesson.py", "exercises.py")
_SYLLABUS_MARK = "<!-- syllabus -->"
_OVERVIEW_MARK = "<!-- syllabus-overview -->"
_NEXT_LESSON_MARK = "<!-- next-lesson -->"
_H1_END = re.compile(r"</h1>", re.I)


def _lessons() -> dict[str, Lesson]:
    return {lesson.slug: lesson for lesson in load_lessons()}


def lesson_of_page(src_uri: str, lessons: dict[str, Lesson]) -> Lesson | None:
    """The lesson a page shows (``lessons/<slug>.py`` or ``.ipynb``), or None."""
    path = PurePosixPath(src_uri)
    if path.parent.as_posix() != LESSON_DOCS:
        return None
    return lessons.get(path.name.split(".", 1)[0])  # also lessons/<slug>.ko.ipynb


def _minutes(lesson: Lesson) -> str:
    parts = []
    if lesson.minutes_class:
        parts.append(f"about {lesson.minutes_class} min to read and run")
    if lesson.minutes_home:
        parts.append(f"{lesson.minutes_home} min for the exercises")
    return ", ".join(parts) or "not estimated yet"


def _prerequisite(item: str, lessons: dict[str, Lesson], link: bool) -> str:
    """A lesson id becomes a link to that lesson; anything else is text."""
    found = next((x for x in lessons.values() if x.id == item.strip()), None)
    if found is None:
        return html_lib.escape(item)
    name = f"lesson {found.id} ({html_lib.escape(found.title)})"
    return f'<a href="../{found.slug}/">{name}</a>' if link else name


def lesson_facts_html(lesson: Lesson, lessons: dict[str, Lesson]) -> str:
    """The box under a lesson's title: time, prerequisites, its source files."""
    before = ", ".join(_prerequisite(p, lessons, True) for p in lesson.prerequisites) or "nothing"
    sources = " · ".join(f'<a href="{name}"><code>{name}</code></a>' for name in SOURCE_FILES)
    where = f"lessons/{lesson.slug}/"
    return (
        '<div class="lesson-facts" data-search-exclude>'
        f"<p><strong>Time:</strong> {_minutes(lesson)}.</p>"
        f"<p><strong>Before this lesson:</strong> {before}.</p>"
        f"<p><strong>Source:</strong> {sources} (view). To change the lesson, edit "
        f"<code>{where}lesson.py</code> in your copy of the course and run "
        f"<code>lessonlib run {lesson.id}</code>; this page is built from it.</p>"
        "</div>"
    )


def clean_for_search(html: str) -> str:
    """Keep the copy buttons ("Copied!") and code cells out of the search index."""
    html = html.replace(
        '<div class="zeroclipboard-container">',
        '<div class="zeroclipboard-container" data-search-exclude>',
    )
    return re.sub(
        r'<div class="(jp-CodeMirrorEditor jp-Editor jp-InputArea-editor)"',
        r'<div class="\1" data-search-exclude',
        html,
    )


def syllabus_markdown(lessons: list[Lesson]) -> str:
    """Per lesson: objectives, prerequisites, minutes, and the exercises with what they assess."""
    by_slug = {lesson.slug: lesson for lesson in lessons}
    parts = []
    for lesson in lessons:
        before = ", ".join(_prerequisite(p, by_slug, False) for p in lesson.prerequisites)
        parts.append(f"### {lesson.id} — {lesson.title}\n")
        parts.append(
            f"**In class:** {lesson.minutes_class or '?'} min · "
            f"**at home:** {lesson.minutes_home or '?'} min · "
            f"**points:** {lesson.points} · **before it:** {before or 'nothing'}\n"
        )
        parts.append("Objectives:\n\n" + "\n".join(f"- {o}" for o in lesson.objectives) + "\n")
        rows = ["| Exercise | Points | What it assesses |", "|---|---|---|"]
        rows += [
            f"| {ex.id} {ex.title} | {ex.points} | {ex.assesses or '—'} |"
            for ex in lesson.exercises
        ]
        parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


def syllabus_overview_rows(lessons: list[Lesson]) -> str:
    """One table row per lesson: in class, at home, points, prerequisites."""
    by_slug = {lesson.slug: lesson for lesson in lessons}
    rows = []
    for lesson in lessons:
        before = ", ".join(_prerequisite(p, by_slug, False) for p in lesson.prerequisites)
        rows.append(
            f"| {lesson.id} {lesson.title} | {lesson.minutes_class or '?'} min | "
            f"{lesson.minutes_home or '?'} min | {lesson.points} | {before or 'nothing'} |"
        )
    return "\n".join(rows)


def _first_lesson_link(page, files) -> str:
    lessons = load_lessons()
    if not lessons:
        return ""
    first = lessons[0]
    target = next(
        (f for f in files if lesson_of_page(f.src_uri, {first.slug: first}) is not None), None
    )
    if target is None:
        return ""
    href = target.url_relative_to(page.file)
    return (
        f'<p class="next-page">Next: <a href="{href}">lesson {first.id} — '
        f"{html_lib.escape(first.title)}</a></p>"
    )


def on_page_markdown(markdown, page, config, files):
    if _API_MARK in markdown:
        markdown = markdown.replace(_API_MARK, api_markdown(load_lessons()))
    if _SYLLABUS_MARK in markdown:
        markdown = markdown.replace(_SYLLABUS_MARK, syllabus_markdown(load_lessons()))
    if _OVERVIEW_MARK in markdown:
        markdown = markdown.replace(_OVERVIEW_MARK, syllabus_overview_rows(load_lessons()))
    if _NEXT_LESSON_MARK in markdown:
        markdown = markdown.replace(_NEXT_LESSON_MARK, _first_lesson_link(page, files))
    return markdown


def on_page_content(html, page, config, files):
    lessons = _lessons()
    lesson = lesson_of_page(page.file.src_uri, lessons)
    if lesson is None:
        return html
    html = clean_for_search(html)
    facts = lesson_facts_html(lesson, lessons)
    match = _H1_END.search(html)
    if match is None:
        return facts + html
    return html[: match.end()] + facts + html[match.end() :]


def on_post_build(config):
    """Copy each lesson's source files next to its page, for the "Source" links."""
    site = Path(config["site_dir"])
    for lesson in load_lessons():
        # every language's page of the lesson (none in a build limited to other lessons)
        for folder in [
            site / LESSON_DOCS / lesson.slug,
            *site.glob(f"*/{LESSON_DOCS}/{lesson.slug}"),
        ]:
            if not folder.is_dir():
                continue
            for name in SOURCE_FILES:
                source = lesson.path / name
                if source.is_file():
                    shutil.copyfile(source, folder / name)


# --------------------------------------------------------------------------- the API reference

_API_MARK = "<!-- lesson-api -->"
_IMPORT = re.compile(r"^from (lessonlib(?:\.\w+)*) import \(?([^)]*?)\)?$", re.M | re.S)


def lesson_imports(lessons: list[Lesson]) -> dict[str, list[str]]:
    """What lessons and exercise stubs import from lessonlib: ``{module: [names]}``, sorted.

    Whole modules (``from lessonlib import data``) and exceptions' modules are listed by
    module; names starting with ``_`` never.
    """
    import ast

    found: dict[str, set[str]] = {}
    for lesson in lessons:
        for name in SOURCE_FILES:
            path = lesson.path / name
            if not path.is_file():
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            whole: dict[str, str] = {}  # local name -> module, for `from lessonlib import data`
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lessonlib"):
                    for alias in node.names:
                        if node.module == "lessonlib":
                            whole[alias.asname or alias.name] = f"lessonlib.{alias.name}"
                            found.setdefault(f"lessonlib.{alias.name}", set())
                        elif not alias.name.startswith("_"):
                            found.setdefault(node.module, set()).add(alias.name)
            for node in ast.walk(tree):  # data.shapes_splits(...) uses lessonlib.data's helper
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id in whole
                    and not node.attr.startswith("_")
                ):
                    found[whole[node.value.id]].add(node.attr)
    return {module: sorted(names) for module, names in sorted(found.items())}


def _module_summary(module: str) -> str:
    import ast
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))) or ""
    return doc.strip().split("\n\n", 1)[0].replace("\n", " ")


@functools.lru_cache(maxsize=64)
def _statements(path: Path, stamp: tuple[int, int]) -> tuple[str, list[tuple[frozenset, Any]]]:
    """A lesson's source and its simple statements in order, each with the names it uses.

    Parsed once per file version (``stamp``: mtime, size) however many helpers ask.
    """
    import ast

    source = path.read_text(encoding="utf-8")
    simple = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Return)
    statements = [n for n in ast.walk(ast.parse(source)) if isinstance(n, simple)]
    found = []
    for node in sorted(statements, key=lambda n: (n.lineno, n.col_offset)):
        names = frozenset(
            sub.id if isinstance(sub, ast.Name) else sub.attr
            for sub in ast.walk(node)
            if isinstance(sub, ast.Name | ast.Attribute)
        )
        found.append((names, node))
    return source, found


def usage_example(name: str, lessons: list[Lesson]) -> tuple[str, str] | None:
    """The first statement of a lesson that uses ``name``: (lesson id, source), or None."""
    import ast

    for lesson in lessons:
        st = lesson.script.stat()
        source, statements = _statements(lesson.script, (st.st_mtime_ns, st.st_size))
        for names, node in statements:
            if name not in names:
                continue
            # get_source_segment splits the whole source each call: only for a use.
            segment = ast.get_source_segment(source, node) or ""
            if segment.count("\n") < 8:
                return lesson.id, segment
    return None


def api_markdown(lessons: list[Lesson]) -> str:
    """Headings per module, each helper lessons import with its docstring and a real use."""
    parts = []
    for module, names in lesson_imports(lessons).items():
        parts.append(f"## `{module}`\n")
        summary = _module_summary(module)
        if summary:
            parts.append(summary + "\n")
        if not names:
            parts.append(f"::: {module}\n    options:\n      show_root_heading: false\n")
            continue
        for name in names:
            parts.append(
                f"::: {module}.{name}\n    options:\n      heading_level: 3\n"
                "      show_root_heading: true\n      show_root_full_path: false\n"
            )
            example = usage_example(name, lessons)
            if example is not None:
                lesson_id, code = example
                parts.append(f"Example, from lesson {lesson_id}:\n\n```python\n{code}\n```\n")
    return "\n".join(parts)
