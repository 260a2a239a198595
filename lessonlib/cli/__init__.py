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
) -> None:
    """Run a lesson script; its figures and files land under build/<id>/."""
    from lessonlib.course.catalog import find_lesson
    from lessonlib.course.runner import run_lesson
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
    with Progress(console=console) as bar:
        lessons = _lessons()
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
    status = "[green]ok[/]" if result.ok else f"[red]failed (exit {result.returncode})[/]"
    files = [p.relative_to(root) if p.is_relative_to(root) else p for p in result.artifacts]
    console.print(
        f"lesson {result.lesson.id} {status} in {result.seconds:.1f} s, wrote {len(files)} files"
        + (f" under build/{result.lesson.id}/" if files else "")
    )
    if not brief:
        for path in files:
            console.print(f"  {path}")
    if not result.ok and result.log:
        tail = result.log.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
        for line in tail:
            console.print(f"  [dim]{line}[/]")


@app.command()
def check(
    lesson: Annotated[str, typer.Argument(help="Lesson id, e.g. 01.")],
    root: Annotated[
        Path | None,
        typer.Option(help="Folder holding <lesson>/exercises.py (default: the course's lessons/)."),
    ] = None,
) -> None:
    """Check your exercises for a lesson: passed / failed / not started, points, next hint."""
    from rich.table import Table

    from lessonlib.course.catalog import find_lesson
    from lessonlib.course.checking import PASSED, check_lesson
    from lessonlib.course.progress import file_digest, hints_shown, load_state, record_check

    target = find_lesson(lesson)
    console = _console()
    report = check_lesson(target, root, warm=True)
    if report.problem:
        console.print(f"[red]{report.problem}[/]")
    state = load_state()
    table = Table(title=f"Lesson {target.id}: {target.title}")
    for col in ("exercise", "title", "status", "points", "why / next hint"):
        table.add_column(col)
    colours = {"passed": "green", "failed": "red", "not started": "yellow"}
    for res, ex in zip(report.results, target.exercises, strict=True):
        shown = hints_shown(ex.id, state)
        if res.status == PASSED:
            note = ""
        else:
            hint = f"lessonlib hint {ex.id}" if shown < len(ex.hints) else "all hints shown"
            note = f"{res.message} · {hint}" if res.message else hint
            if report.problem:
                note = hint
        colour = colours.get(res.status, "red")
        table.add_row(
            ex.id, ex.title, f"[{colour}]{res.status}[/]", f"{res.earned}/{res.points}", note
        )
    console.print(table)
    console.print(f"points: {report.earned}/{report.total}")
    if root is None:
        record_check(
            target.id, file_digest(report.exercises_file), report.statuses(), report.earned
        )
    if report.earned < report.total:
        raise typer.Exit(1)


@app.command()
def hint(exercise: Annotated[str, typer.Argument(help="Exercise id, e.g. 01.2.")]) -> None:
    """Show the next hint for an exercise (each call reveals one more)."""
    from lessonlib.course.catalog import find_exercise
    from lessonlib.course.progress import next_hint

    _, ex = find_exercise(exercise)
    number, text, last = next_hint(ex.id, ex.hints)
    console = _console()
    console.print(f"[bold]{ex.id} {ex.title}[/] — hint {number}/{len(ex.hints)}")
    console.print(text)
    if last:
        console.print("[dim]That was the last hint: the lesson page shows the idea in full.[/]")


@app.command()
def progress() -> None:
    """Where you stand across all lessons (re-checks lessons whose exercises changed)."""
    from rich.table import Table

    from lessonlib.course.checking import check_lesson
    from lessonlib.course.progress import cached_check, file_digest, record_check

    table = Table(title="Progress")
    for col in ("lesson", "passed", "not started", "failed", "points"):
        table.add_column(col)
    earned_all = total_all = 0
    for lesson in _lessons():
        digest = file_digest(lesson.exercises_file)
        entry = cached_check(lesson.id, digest)
        if entry is None:
            report = check_lesson(lesson)
            record_check(lesson.id, digest, report.statuses(), report.earned)
            entry = cached_check(lesson.id, digest) or {"statuses": {}, "earned": 0}
        values = list(entry["statuses"].values())
        earned_all += entry["earned"]
        total_all += lesson.points
        table.add_row(
            f"{lesson.id} {lesson.title}",
            str(values.count("passed")),
            str(values.count("not started")),
            str(len(values) - values.count("passed") - values.count("not started")),
            f"{entry['earned']}/{lesson.points}",
        )
    console = _console()
    console.print(table)
    console.print(f"total: {earned_all}/{total_all} points")


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
    "lessonlib.cli.tensorboard",
    "lessonlib.cli.visdom",
    "lessonlib.cli.netron",
    "lessonlib.cli.classroom",
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
