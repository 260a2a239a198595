"""The docs site: lesson pages generated from ``lesson.py`` + ``meta.toml``, built by mkdocs.

Each lesson page is one percent script: the lesson itself, executed by mkdocs-jupyter
(outputs and figures embedded), followed by the exercises with their hints folded.
The generated sources live in ``build/docs_src/``; the source tree is never written.
"""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from lessonlib.course.catalog import Lesson, load_lessons
from lessonlib.errors import LessonlibError
from lessonlib.paths import build_dir, project_root

LESSON_DOCS = "lessons"


def library_digest() -> str:
    """A short hash of lessonlib's sources: lesson pages re-execute when the library changes."""
    digest = hashlib.sha256()
    for path in sorted((project_root() / "lessonlib").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _docstrings(path: Path) -> dict[str, str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name: ast.get_docstring(node) or ""
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
    }


def _signature(path: Path, name: str) -> str:
    source = path.read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            head = ast.get_source_segment(source, node) or ""
            return head.split(":\n", 1)[0].strip() + ":"
    return f"def {name}(...):"


def _markdown_cell(text: str) -> str:
    lines = text.strip("\n").splitlines()
    return "# %% [markdown]\n" + "\n".join(f"# {ln}".rstrip() for ln in lines) + "\n"


def exercises_markdown(lesson: Lesson) -> str:
    """The exercises section of a lesson page: task, signature, points and folded hints."""
    docs = _docstrings(lesson.exercises_file)
    parts = [
        "## Exercises\n",
        f"Open `lessons/{lesson.slug}/exercises.py`, fill in each function, then run "
        f"`lessonlib check {lesson.id}`. Stuck? `lessonlib hint <id>` reveals one hint at a "
        "time; the hints are also folded below.\n",
    ]
    for ex in lesson.exercises:
        parts.append(
            f"### {ex.id} — {ex.title} ({ex.points} point{'s' if ex.points != 1 else ''})\n"
        )
        parts.append("```python\n" + _signature(lesson.exercises_file, ex.function) + "\n```\n")
        parts.append(docs.get(ex.function, "").strip() + "\n")
        for i, text in enumerate(ex.hints, 1):
            parts.append(f"<details><summary>Hint {i}</summary>\n\n{text}\n\n</details>\n")
    return "\n".join(parts)


def lesson_page_source(lesson: Lesson) -> str:
    """The percent script a lesson's page is rendered from (lesson + exercises)."""
    body = lesson.script.read_text(encoding="utf-8").rstrip("\n")
    # An invisible first cell: a library change alters the page source, so the cached
    # execution is not reused.
    stamp = _markdown_cell(
        f"<!-- generated from {lesson.slug}/lesson.py, lessonlib {library_digest()} -->"
    )
    return stamp + "\n" + body + "\n\n" + _markdown_cell(exercises_markdown(lesson))


def selected_lessons() -> list[Lesson]:
    """The lessons the site shows: all, or those in ``LESSONLIB_DOCS_LESSONS`` (e.g. ``01,03``)."""
    lessons = load_lessons()
    wanted = os.environ.get("LESSONLIB_DOCS_LESSONS", "").strip()
    if wanted:
        ids = {part.strip().zfill(2) for part in wanted.split(",") if part.strip()}
        lessons = [lesson for lesson in lessons if lesson.id in ids]
    return lessons


def write_lesson_pages(lessons: list[Lesson] | None = None) -> list[tuple[Lesson, Path]]:
    """Write each lesson's page source under ``build/docs_src/lessons``; unchanged files stay."""
    out = build_dir("docs_src", LESSON_DOCS)
    written = []
    for lesson in lessons if lessons is not None else selected_lessons():
        target = out / f"{lesson.slug}.py"
        text = lesson_page_source(lesson)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
        written.append((lesson, target))
    return written


def lessons_table_markdown(lessons: list[Lesson] | None = None) -> str:
    """A markdown table of the lessons: id, title (linked), what you will see, tools."""
    rows = ["| Lesson | What you will see | Tools |", "|---|---|---|"]
    for lesson in lessons if lessons is not None else selected_lessons():
        link = f"[{lesson.id} — {lesson.title}]({LESSON_DOCS}/{lesson.slug}.py)"
        rows.append(f"| {link} | {lesson.summary} | {', '.join(lesson.tools)} |")
    return "\n".join(rows)


def _mkdocs_env() -> dict[str, str]:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONWARNINGS="ignore")
    env["LESSONLIB_ROOT"] = str(project_root())
    # The kernel must keep matplotlib's inline backend, so that plt.show() embeds figures.
    env.pop("MPLBACKEND", None)
    return env


def build_site(
    site_dir: Path | None = None, lessons: list[str] | None = None, strict: bool = True
) -> float:
    """Run ``mkdocs build`` (strict) into ``site/`` (or ``site_dir``); return the seconds taken.

    ``lessons`` limits the lesson pages to those ids (the other pages are always built).
    """
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "mkdocs", "build", "--quiet"] + (["--strict"] if strict else [])
    if site_dir is not None:
        cmd += ["--site-dir", str(site_dir)]
    env = _mkdocs_env()
    if lessons:
        env["LESSONLIB_DOCS_LESSONS"] = ",".join(lessons)
    proc = subprocess.run(cmd, cwd=project_root(), env=env, check=False)
    if proc.returncode != 0:
        raise LessonlibError("the docs build failed: see the mkdocs messages above.", code=1)
    return time.perf_counter() - t0


def serve_site(port: int = 8000) -> None:
    """Serve the docs with live reload on localhost until Ctrl-C."""
    cmd = [sys.executable, "-m", "mkdocs", "serve", "--dev-addr", f"127.0.0.1:{port}"]
    try:
        subprocess.run(cmd, cwd=project_root(), env=_mkdocs_env(), check=False)
    except KeyboardInterrupt:
        pass
