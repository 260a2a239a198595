"""The ``lessonlib`` command: a thin typer + rich layer over the library's functions.

Heavy imports (torch, matplotlib, pytest) happen inside commands, so ``--help`` is instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lessonlib.errors import LessonlibError

app = typer.Typer(
    help="See inside PyTorch models: run the lessons, check your exercises, get hints.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
dev_app = typer.Typer(help="Course authors' tools.", no_args_is_help=True)
app.add_typer(dev_app, name="dev")

_state = {"debug": False}


def _console():
    from rich.console import Console

    return Console(highlight=False)


def _lessons():
    from lessonlib.course.catalog import load_lessons

    return load_lessons()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug


@app.command("list")
def list_cmd() -> None:
    """List the lessons: title, exercises done / total, points."""
    from rich.table import Table

    from lessonlib.course.progress import cached_check, file_digest

    table = Table(title="Lessons")
    for col in ("id", "title", "exercises done", "points"):
        table.add_column(col)
    for lesson in _lessons():
        entry = cached_check(lesson.id, file_digest(lesson.exercises_file))
        statuses = entry["statuses"] if entry else {}
        done = sum(1 for s in statuses.values() if s == "passed")
        earned = entry["earned"] if entry else 0
        mark = "" if entry else " (not checked)"
        table.add_row(
            lesson.id,
            lesson.title,
            f"{done}/{len(lesson.exercises)}{mark}",
            f"{earned}/{lesson.points}",
        )
    _console().print(table)


@app.command()
def run(
    lesson: Annotated[str | None, typer.Argument(help="Lesson id, e.g. 01.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Run every lesson in order.")] = False,
    changed: Annotated[
        bool,
        typer.Option(
            "--changed", help="Skip lessons already run from their current sources (with --all)."
        ),
    ] = False,
) -> None:
    """Run a lesson once in a Jupyter kernel; its notebook and files land under build/<id>/."""
    from lessonlib.course.catalog import find_lesson
    from lessonlib.course.runner import notebook_is_current, run_lesson
    from lessonlib.paths import project_root

    console = _console()
    root = project_root()
    if all_ == (lesson is not None):
        raise LessonlibError("give one lesson id (lessonlib run 01) or --all.")
    if lesson is not None:
        target = find_lesson(lesson)
        console.print(f"[bold]Lesson {target.id}: {target.title}[/]")
        result = run_lesson(target)
        _report_run(console, result, root)
        if not result.ok:
            raise typer.Exit(1)
        return
    from rich.progress import Progress

    failed = []
    lessons = _lessons()
    if changed:
        lessons = [item for item in lessons if not notebook_is_current(item)]
        if not lessons:
            console.print("every lesson is up to date (its notebook is in build/<id>/)")
            return
    with Progress(console=console) as bar:
        task = bar.add_task("running lessons", total=len(lessons))
        for item in lessons:
            bar.update(task, description=f"lesson {item.id}")
            result = run_lesson(item, capture=True)
            _report_run(bar.console, result, root, brief=True)
            if not result.ok:
                failed.append(item.id)
            bar.advance(task)
    if failed:
        console.print(f"[red]lessons {', '.join(failed)} failed: see build/<id>/run.log[/]")
        raise typer.Exit(1)


def _report_run(console, result, root: Path, brief: bool = False) -> None:
    status = "[green]ok[/]" if result.ok else "[red]failed[/]"
    files = [p.relative_to(root) if p.is_relative_to(root) else p for p in result.artifacts]
    console.print(
        f"lesson {result.lesson.id} {status} in {result.seconds:.1f} s, wrote {len(files)} files"
        + (f" under build/{result.lesson.id}/" if files else "")
    )
    if not brief:
        for path in files:
            console.print(f"  {path}")
    if result.notebook is not None and not brief:
        shown = result.notebook.relative_to(root) if result.notebook.is_relative_to(root) else ""
        console.print(f"executed notebook: {shown or result.notebook}", markup=False)
    if not result.ok:
        console.print(f"[red]lesson {result.lesson.id} failed:[/] {_escape(result.error)}")
    if not result.ok and result.log:
        tail = result.log.read_text(encoding="utf-8", errors="replace").splitlines()[-8:]
        for line in tail:
            console.print(f"  [dim]{_escape(_strip_ansi(line))}[/]")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@app.command()
def hint(exercise: Annotated[str, typer.Argument(help="Exercise id, e.g. 01.2 or 1.2.")]) -> None:
    """Show the next hint for an exercise (each call reveals one more)."""
    from lessonlib.course.catalog import find_exercise
    from lessonlib.course.progress import next_hint

    _, ex = find_exercise(exercise)
    number, text, last = next_hint(ex.id, ex.hints)
    console = _console()
    console.print(f"{ex.id} {ex.title} — hint {number}/{len(ex.hints)}", style="bold", markup=False)
    console.print(text, markup=False)  # verbatim: [label=...] is DOT, not rich markup
    if last:
        console.print("[dim]That was the last hint: the lesson page shows the idea in full.[/]")


@app.command()
def progress(
    jobs: Annotated[int, typer.Option(help="Lessons checked at once when some changed.")] = 2,
) -> None:
    """Where you stand across all lessons (re-checks only lessons whose files changed)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from lessonlib.course.progress import lesson_progress

    console = _console()
    lessons = _lessons()
    bar = Progress(
        TextColumn("checking {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    )
    task = {}

    def started(stale):
        bar.start()
        task["id"] = bar.add_task(", ".join(x.id for x in stale), total=len(stale))

    def done(report):
        bar.advance(task["id"])

    try:
        entries = lesson_progress(lessons, jobs=jobs, on_start=started, on_done=done)
    finally:
        bar.stop()
    table = Table(title="Progress")
    for col in ("lesson", "passed", "not started", "failed", "points"):
        table.add_column(col)
    earned_all = total_all = 0
    problems = []
    for lesson in lessons:
        entry = entries[lesson.id]
        if entry.get("problem"):
            problems.append(entry["problem"])
            table.add_row(f"{lesson.id} {_escape(lesson.title)}", "?", "?", "?", "not checked")
            total_all += lesson.points
            continue
        values = list(entry["statuses"].values())
        earned_all += entry["earned"]
        total_all += lesson.points
        table.add_row(
            f"{lesson.id} {_escape(lesson.title)}",
            str(values.count("passed")),
            str(values.count("not started")),
            str(len(values) - values.count("passed") - values.count("not started")),
            f"{entry['earned']}/{lesson.points}",
        )
    console.print(table)
    console.print(f"total: {earned_all}/{total_all} points")
    for problem in problems:
        console.print(problem, style="red", markup=False)


@app.command()
def watch(
    lesson: Annotated[
        str | None,
        typer.Argument(help="Lesson to start with, e.g. 01 (default: the first unfinished)."),
    ] = None,
    root: Annotated[
        Path | None,
        typer.Option(help="Folder holding the lessons' exercises.py (default: lessons/)."),
    ] = None,
) -> None:
    """Re-check a lesson each time you save its exercises.py; h: next hint, q: quit."""
    from lessonlib.course.catalog import find_lesson
    from lessonlib.course.progress import first_unfinished_lesson
    from lessonlib.course.watch import watch as watch_lessons

    lessons = _lessons()
    if root is not None:
        root = (Path.cwd() / root).resolve()
        if not root.is_dir():
            raise LessonlibError(f"--root {root} is not a folder.")
    start = find_lesson(lesson) if lesson else first_unfinished_lesson(lessons)
    watch_lessons(lessons, start, root)


@app.command()
def docs(
    serve: Annotated[
        bool, typer.Option("--serve", help="Serve the site with live reload.")
    ] = False,
    port: Annotated[int, typer.Option(help="Port for --serve.")] = 8000,
) -> None:
    """Build the docs site into site/ (or serve it)."""
    from lessonlib.site.build import build_site, serve_site

    if serve:
        serve_site(port)
    else:
        seconds = build_site()
        _console().print(f"site built into site/ in {seconds:.1f} s")


@dev_app.command("check")
def dev_check_cmd(
    lessons: Annotated[list[str] | None, typer.Argument(help="Only these lesson ids.")] = None,
) -> None:
    """Every stub fails its tests, every solution passes, ids agree everywhere."""
    from lessonlib.course.catalog import normalize_lesson_id
    from lessonlib.course.devcheck import dev_check

    ids = [normalize_lesson_id(x) for x in lessons] if lessons else None
    report = dev_check(lesson_ids=ids)
    console = _console()
    for problem in report.problems:
        console.print(f"[red]✗[/] {problem}")
    summary = f"{report.lessons} lessons, {report.exercises} exercises, {report.tests} tests"
    if report.ok:
        console.print(f"[green]dev check passed[/]: {summary}")
    else:
        console.print(f"[red]dev check failed[/]: {len(report.problems)} problems ({summary})")
        raise typer.Exit(1)


# Command groups that live in their own modules (servers, classroom). Each module imports
# only typer at the top and exposes ``register(app)``; a missing module is simply skipped.
_COMMAND_MODULES = (
    "lessonlib.cli.check",
    "lessonlib.cli.tensorboard",
    "lessonlib.cli.visdom",
    "lessonlib.cli.netron",
    "lessonlib.cli.mlflow",
    "lessonlib.cli.classroom",
    "lessonlib.cli.inspect",
)


def _register_command_modules() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(app)


_register_command_modules()


def main() -> None:
    """Entry point: run the app, turning learner errors into one sentence and exit 2."""
    try:
        app()
    except LessonlibError as exc:
        if _state["debug"]:
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.code)
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
