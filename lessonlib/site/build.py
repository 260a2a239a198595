"""The docs site: lesson pages made from the notebooks ``lessonlib run`` executed, built by mkdocs.

Each lesson page is the lesson's executed notebook (``build/<id>/<slug>.ipynb``: outputs and
figures embedded), with a link to download that notebook and the exercises with their hints
folded. Nothing is executed while the site is built: a lesson whose sources changed since its
notebook was made (or that never ran) is run once first, through ``lessonlib.course.runner``.
The generated pages live in ``build/docs_src/``; the source tree is never written.
"""

from __future__ import annotations

import ast
import html
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from lessonlib.course.catalog import Lesson, load_lessons, normalize_lesson_id
from lessonlib.course.runner import notebook_is_current, notebook_path, run_lessons
from lessonlib.errors import LessonlibError
from lessonlib.paths import build_dir, project_root

LESSON_DOCS = "lessons"


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


def verbatim_html(text: str) -> str:
    """``text`` as HTML that markdown leaves alone: escaped, with `code` spans kept as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


def exercises_markdown(lesson: Lesson) -> str:
    """The exercises section of a lesson page: task, signature, points and folded hints.

    Hints are written as one-line HTML blocks, so markdown never reads ``__name__`` as bold
    or ``[label=...]`` as a link: the page shows them as the author wrote them.
    """
    docs = _docstrings(lesson.exercises_file)
    parts = [
        "## Exercises\n",
        f"Open `lessons/{lesson.slug}/exercises.py`, fill in each function, then run "
        f"`lessonlib check {lesson.id}` (or `lessonlib watch {lesson.id}`, which re-checks on "
        "every save). Stuck? `lessonlib hint <id>` reveals one hint at a time; the hints are "
        "also folded below.\n",
    ]
    for ex in lesson.exercises:
        parts.append(
            f"### {ex.id} — {ex.title} ({ex.points} point{'s' if ex.points != 1 else ''})\n"
        )
        parts.append("```python\n" + _signature(lesson.exercises_file, ex.function) + "\n```\n")
        parts.append(docs.get(ex.function, "").strip() + "\n")
        for i, text in enumerate(ex.hints, 1):
            parts.append(
                f"<details><summary>Hint {i}</summary><p>{verbatim_html(text)}</p></details>\n"
            )
    return "\n".join(parts)


def download_markdown(lesson: Lesson) -> str:
    """The "Download the notebook" line of a lesson page, and how to open it locally."""
    name = notebook_path(lesson).name
    return (
        f'<p class="lessonlib-notebook"><a href="{name}" download>Download the notebook</a> '
        f"(<code>{name}</code>: this page, executed, outputs included). Any Jupyter shows it "
        f"as it is; to run its cells again you need the course's environment (they import "
        f"<code>lessonlib</code>): in the course folder, "
        f"<code>bash scripts/uv.sh pip install --python .venv jupyterlab</code>, then "
        f"<code>.venv/bin/jupyter lab {name}</code>. <code>lessonlib run {lesson.id}</code> "
        f"writes the same notebook to <code>build/{lesson.id}/</code>.</p>"
    )


def lesson_page_notebook(lesson: Lesson, executed: dict) -> dict:
    """The notebook a lesson's page is rendered from: the executed lesson, the download line
    after its title, and the exercises at the end (markdown only: nothing runs again)."""
    import nbformat

    nb = nbformat.from_dict(json.loads(json.dumps(executed)))
    cells = list(nb.cells)
    first_md = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"), -1)
    cells.insert(first_md + 1, nbformat.v4.new_markdown_cell(download_markdown(lesson)))
    cells.append(nbformat.v4.new_markdown_cell(exercises_markdown(lesson)))
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"  # stable ids: an unchanged page is byte-identical
    nb.cells = cells
    return nb


def selected_lessons() -> list[Lesson]:
    """The lessons the site shows: all, or those in ``LESSONLIB_DOCS_LESSONS`` (e.g. ``01,03``)."""
    lessons = load_lessons()
    wanted = os.environ.get("LESSONLIB_DOCS_LESSONS", "").strip()
    if wanted:
        ids = {part.strip().zfill(2) for part in wanted.split(",") if part.strip()}
        lessons = [lesson for lesson in lessons if lesson.id in ids]
    return lessons


def run_stale_lessons(lessons: list[Lesson], echo=print) -> list[str]:
    """Run each lesson whose executed notebook is missing or older than its sources.

    Two at a time where there are two CPUs (``run_lessons``). A lesson that fails stops
    here with its own error (and the end of its log): no further lesson starts.
    """
    stale = [lesson for lesson in lessons if not notebook_is_current(lesson)]

    def started(lesson: Lesson) -> None:
        echo(f"lesson {lesson.id} changed since its last run (or never ran): running it once")

    def ended(result) -> None:
        if result.ok:
            echo(f"lesson {result.lesson.id} ran in {result.seconds:.1f} s")

    results = run_lessons(stale, on_start=started, on_done=ended, stop_on_failure=True)
    for result in results:
        if result.ok:
            continue
        lesson = result.lesson
        tail = ""
        if result.log and result.log.exists():
            lines = result.log.read_text(encoding="utf-8", errors="replace").splitlines()
            tail = "\n".join(re.sub(r"\x1b\[[0-9;]*m", "", ln) for ln in lines[-12:])
        if tail:
            print(tail, file=sys.stderr)
        raise LessonlibError(
            f"lesson {lesson.id} failed ({result.error}); the site was not built: "
            f"fix it and see build/{lesson.id}/run.log.",
            code=1,
        )
    order = [lesson.id for lesson in stale]
    return sorted((r.lesson.id for r in results), key=order.index)


def rerun_stale_lessons_while_serving() -> None:
    """Under ``lessonlib docs --serve`` (``LESSONLIB_SERVE``), before each rebuild: run the
    lessons whose sources changed since their notebook. A failing lesson is reported in one
    sentence and the server goes on (its page is left out until it runs again)."""
    if not os.environ.get("LESSONLIB_SERVE"):
        return
    try:
        run_stale_lessons(selected_lessons())
    except LessonlibError as err:
        print(f"{err} The server goes on; save the lesson again once it is fixed.", file=sys.stderr)


def write_lesson_pages(lessons: list[Lesson] | None = None) -> list[tuple[Lesson, Path]]:
    """Write each lesson's page notebook under ``build/docs_src/lessons``; unchanged files stay.

    Lessons without an executed notebook get none (``build_site`` runs them first).
    """
    import nbformat

    out = build_dir("docs_src", LESSON_DOCS)
    written = []
    for lesson in lessons if lessons is not None else selected_lessons():
        source = notebook_path(lesson)
        if not source.exists():
            continue
        executed = nbformat.read(source, as_version=4)
        target = out / f"{lesson.slug}.ipynb"
        text = nbformat.writes(lesson_page_notebook(lesson, executed)) + "\n"
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
        written.append((lesson, target))
    return written


def lessons_table_markdown(lessons: list[Lesson] | None = None) -> str:
    """A markdown table of the lessons: id, title (linked), what you will see, tools."""
    rows = ["| Lesson | What you will see | Tools |", "|---|---|---|"]
    for lesson in lessons if lessons is not None else selected_lessons():
        link = f"[{lesson.id} — {lesson.title}]({LESSON_DOCS}/{lesson.slug}.ipynb)"
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
    ids = {normalize_lesson_id(x) for x in lessons or []}
    run_stale_lessons([item for item in selected_lessons() if not ids or item.id in ids])
    cmd = [sys.executable, "-m", "mkdocs", "build", "--quiet"] + (["--strict"] if strict else [])
    if site_dir is not None:
        cmd += ["--site-dir", str(site_dir)]
    env = _mkdocs_env()
    if lessons:
        env["LESSONLIB_DOCS_LESSONS"] = ",".join(sorted(ids))
    proc = subprocess.run(cmd, cwd=project_root(), env=env, check=False)
    if proc.returncode != 0:
        raise LessonlibError("the docs build failed: see the mkdocs messages above.", code=1)
    return time.perf_counter() - t0


def serve_site(port: int = 8000) -> None:
    """Serve the docs with live reload on localhost until Ctrl-C.

    Besides docs/, the server watches lessons/: saving a lesson's ``lesson.py`` (or its
    meta.toml or ko.toml) rebuilds the site, and the rebuild first runs each lesson whose
    sources changed (``LESSONLIB_SERVE``, read by the hooks' ``on_config``).
    """
    cmd = [sys.executable, "-m", "mkdocs", "serve", "--dev-addr", f"127.0.0.1:{port}"]
    cmd += ["--watch", str(project_root() / "lessons")]
    run_stale_lessons(selected_lessons())
    env = dict(_mkdocs_env(), LESSONLIB_SERVE="1")
    server = subprocess.Popen(cmd, cwd=project_root(), env=env)
    # Stopped with SIGTERM (not Ctrl-C, which reaches both), the server must not outlive us.
    previous = signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    try:
        server.wait()
    except KeyboardInterrupt:
        server.terminate()
        server.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
