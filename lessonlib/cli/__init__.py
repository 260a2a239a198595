"""The ``lessonlib`` command: a thin typer + rich layer over the library's functions.

Heavy imports (torch, matplotlib, pytest) happen inside commands, so ``--help`` is instant.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from lessonlib.errors import LessonlibError
from lessonlib.messages import _, set_language


def _flags_take_no_value() -> None:
    """typer 0.29 writes ``--serve <bool>`` in --help, as if the switch took a value."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        return None if self.is_flag and self.metavar is None else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich


_flags_take_no_value()

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
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="Language of the messages: en or ko (default: the locale)."),
    ] = None,
) -> None:
    _state["debug"] = debug
    if lang:
        os.environ["LESSONLIB_LANG"] = lang  # the checking engine's process speaks it too
    set_language(lang)


@app.command("list")
def list_cmd() -> None:
    """List the lessons: title, exercises done / total, points."""
    from rich.table import Table

    from lessonlib.course.i18n import localized
    from lessonlib.course.progress import cached_check, file_digest

    table = Table(title=_("Lessons"))
    for col in (_("id"), _("title"), _("exercises done"), _("points")):
        table.add_column(col)
    for lesson in _lessons():
        entry = cached_check(lesson.id, file_digest(lesson.exercises_file))
        statuses = entry["statuses"] if entry else {}
        done = sum(1 for s in statuses.values() if s == "passed")
        earned = entry["earned"] if entry else 0
        mark = "" if entry else _(" (not checked)")
        table.add_row(
            lesson.id,
            localized(lesson, ("title",), lesson.title),
            f"{done}/{len(lesson.exercises)}{mark}",
            f"{earned}/{lesson.points}",
        )
    _console().print(table)


@app.command()
def run(
    lesson: Annotated[str | None, typer.Argument(help="Lesson id, e.g. 01.")] = None,
    all_: Annotated[
        bool,
        typer.Option(
            "--all", help="Run every lesson: two at a time on two CPUs (see --jobs), longest first."
        ),
    ] = False,
    changed: Annotated[
        bool,
        typer.Option(
            "--changed", help="Skip lessons already run from their current sources (with --all)."
        ),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=0,
            help="Lessons run at once with --all (0: two where there are two CPUs).",
        ),
    ] = 0,
) -> None:
    """Run a lesson once in a Jupyter kernel; its notebook and files land under build/<id>/."""
    from lessonlib.course.catalog import find_lesson
    from lessonlib.course.runner import notebook_is_current, run_lesson, run_lessons
    from lessonlib.paths import project_root

    console = _console()
    root = project_root()
    if all_ == (lesson is not None):
        raise LessonlibError(_("give one lesson id (lessonlib run 01) or --all."))
    if lesson is not None:
        target = find_lesson(lesson)
        from lessonlib.course.i18n import localized

        title = localized(target, ("title",), target.title)
        console.print(
            "[bold]" + _("Lesson {id}: {title}").format(id=target.id, title=title) + "[/]"
        )
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
            console.print(_("every lesson is up to date (its notebook is in build/<id>/)"))
            return
    with Progress(console=console) as bar:
        task = bar.add_task(_("running lessons"), total=len(lessons))
        now_running: list[str] = []

        def show_running() -> None:
            ids = ", ".join(now_running)
            bar.update(task, description=_("lesson {id}").format(id=ids) if ids else "")

        def started(item) -> None:
            now_running.append(item.id)
            show_running()

        def ended(result) -> None:
            now_running.remove(result.lesson.id)
            _report_run(bar.console, result, root, brief=True)
            if not result.ok:
                failed.append(result.lesson.id)
            show_running()
            bar.advance(task)

        run_lessons(lessons, jobs=jobs or None, on_start=started, on_done=ended)
    failed.sort()
    if failed:
        msg = _("lessons {ids} failed: see build/<id>/run.log").format(ids=", ".join(failed))
        console.print(f"[red]{_escape(msg)}[/]")
        raise typer.Exit(1)


def _report_run(console, result, root: Path, brief: bool = False) -> None:
    status = "[green]" + _("ok") + "[/]" if result.ok else "[red]" + _("failed") + "[/]"
    files = [p.relative_to(root) if p.is_relative_to(root) else p for p in result.artifacts]
    console.print(
        _("lesson {id} {status} in {seconds:.1f} s, wrote {count} files").format(
            id=result.lesson.id, status=status, seconds=result.seconds, count=len(files)
        )
        + (_(" under build/{id}/").format(id=result.lesson.id) if files else "")
    )
    if not brief:
        for path in files:
            console.print(f"  {path}")
    if result.notebook is not None and not brief:
        shown = result.notebook.relative_to(root) if result.notebook.is_relative_to(root) else ""
        console.print(
            _("executed notebook: {path}").format(path=shown or result.notebook), markup=False
        )
    if not result.ok:
        head = _("lesson {id} failed:").format(id=result.lesson.id)
        console.print(f"[red]{head}[/] {_escape(result.error)}")
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
def hint(
    exercise: Annotated[
        str,
        typer.Argument(
            help="Exercise id, e.g. 01.2 or 1.2; a lesson id (01) means its first unfinished one."
        ),
    ],
    number: Annotated[
        int | None,
        typer.Option("--number", "-n", help="Show this hint (e.g. the one check says fits)."),
    ] = None,
) -> None:
    """Show the next hint for an exercise (each call reveals one more), or hint --number N."""
    from lessonlib.course.catalog import find_exercise, find_lesson
    from lessonlib.course.i18n import localized
    from lessonlib.course.progress import cached_check, file_digest, next_hint

    if "." not in exercise:
        target = find_lesson(exercise)
        entry = cached_check(target.id, file_digest(target.exercises_file)) or {}
        statuses = entry.get("statuses", {})
        todo = [e for e in target.exercises if statuses.get(e.id) != "passed"]
        exercise = (todo or list(target.exercises))[0].id
    lesson, ex = find_exercise(exercise)
    if number is not None and ex.hints:
        if not 1 <= number <= len(ex.hints):
            raise LessonlibError(
                _("exercise {id} has hints 1 to {total}.").format(id=ex.id, total=len(ex.hints))
            )
        from lessonlib.course.progress import hints_shown, load_state, save_state

        state = load_state()
        state.setdefault("hints", {})[ex.id] = max(number, hints_shown(ex.id, state))
        save_state(state)
        text, last = ex.hints[number - 1], number == len(ex.hints)
    else:
        number, text, last = next_hint(ex.id, ex.hints)
    title = localized(lesson, ("exercises", ex.id, "title"), ex.title)
    text = localized(lesson, ("exercises", ex.id, "hints", str(number)), text)
    console = _console()
    head = _("{id} {title} — hint {number}/{total}").format(
        id=ex.id, title=title, number=number, total=len(ex.hints)
    )
    console.print(head, style="bold", markup=False)
    console.print(text, markup=False)  # verbatim: [label=...] is DOT, not rich markup
    if last:
        from lessonlib.course.progress import LAST_HINT

        last_line = _(LAST_HINT)
        console.print(f"[dim]{_escape(last_line)}[/]")


@app.command()
def progress(
    jobs: Annotated[int, typer.Option(help="Lessons checked at once when some changed.")] = 2,
) -> None:
    """Where you stand across all lessons (re-checks only lessons whose files changed)."""
    from rich.table import Table

    from lessonlib.course.progress import lesson_progress

    console = _console()
    lessons = _lessons()
    bar = {}

    def started(stale):  # only when some lesson must be checked again (rich.progress is slow)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        if not console.is_terminal:  # no bar is drawn into a pipe or a log: one line instead
            line = _("checking lesson {ids} (new or changed since the last check)…")
            console.print(line.format(ids=", ".join(x.id for x in stale)), markup=False)

        bar["bar"] = Progress(
            TextColumn(_("checking {task.description}")),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        )
        bar["bar"].start()
        bar["task"] = bar["bar"].add_task(", ".join(x.id for x in stale), total=len(stale))

    def done(report):
        bar["bar"].advance(bar["task"])

    try:
        entries = lesson_progress(lessons, jobs=jobs, on_start=started, on_done=done)
    finally:
        if bar:
            bar["bar"].stop()
    from lessonlib.course.i18n import localized

    table = Table(title=_("Progress"))
    for col in (_("lesson"), _("passed"), _("not started"), _("failed"), _("points")):
        table.add_column(col)
    earned_all = total_all = 0
    problems = []
    for lesson in lessons:
        entry = entries[lesson.id]
        if entry.get("problem"):
            problems.append(entry["problem"])
            title = _escape(localized(lesson, ("title",), lesson.title))
            table.add_row(f"{lesson.id} {title}", "?", "?", "?", _("not checked"))
            total_all += lesson.points
            continue
        values = list(entry["statuses"].values())
        earned_all += entry["earned"]
        total_all += lesson.points
        table.add_row(
            f"{lesson.id} {_escape(localized(lesson, ('title',), lesson.title))}",
            str(values.count("passed")),
            str(values.count("not started")),
            str(len(values) - values.count("passed") - values.count("not started")),
            f"{entry['earned']}/{lesson.points}",
        )
    console.print(table)
    console.print(_("total: {earned}/{total} points").format(earned=earned_all, total=total_all))
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
    """Re-check a lesson on every save of its exercises.py (keys: h hint, c check, q quit)."""
    from lessonlib.course.catalog import find_lesson
    from lessonlib.course.progress import first_unfinished_lesson
    from lessonlib.course.watch import watch as watch_lessons

    lessons = _lessons()
    if root is not None:
        root = (Path.cwd() / root).resolve()
        if not root.is_dir():
            raise LessonlibError(_("--root {root} is not a folder.").format(root=root))
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
        _console().print(_("site built into site/ in {seconds:.1f} s").format(seconds=seconds))


@dev_app.command("check")
def dev_check_cmd(
    lessons: Annotated[list[str] | None, typer.Argument(help="Only these lesson ids.")] = None,
) -> None:
    """Every stub fails its tests, every solution passes, ids agree everywhere."""
    from lessonlib.course.catalog import normalize_lesson_id
    from lessonlib.course.devcheck import dev_check

    ids = [normalize_lesson_id(x) for x in lessons] if lessons else None
    from lessonlib.course.i18n import translation_report

    report = dev_check(lesson_ids=ids)
    console = _console()
    words = translation_report("ko", lesson_ids=ids)
    report.problems += words.problems
    for problem in report.problems:
        console.print("[red]✗[/] " + _escape(problem))
    for note in words.notes:
        console.print("[yellow]·[/] " + _escape(note))
    summary = f"{report.lessons} lessons, {report.exercises} exercises, {report.tests} tests"
    summary += f", ko: {words.translated}/{words.total} files translated"
    if report.ok:
        console.print(f"[green]dev check passed[/]: {summary}")
    else:
        console.print(f"[red]dev check failed[/]: {len(report.problems)} problems ({summary})")
        raise typer.Exit(1)


@dev_app.command("i18n")
def dev_i18n_cmd(
    lang: Annotated[str, typer.Argument(help="Language code, e.g. ko.")] = "ko",
) -> None:
    """Write or refresh the translation skeletons (lessons/NN_x/ko.toml, docs/ko/*.md)."""
    from lessonlib.course.i18n import (
        LANGUAGES,
        refresh_docs,
        refresh_lesson,
        translation_report,
    )

    if lang not in LANGUAGES:
        raise LessonlibError(f"no language {lang}; languages are {', '.join(LANGUAGES)}.")
    console = _console()
    for lesson in _lessons():
        path = refresh_lesson(lesson, lang)
        console.print(f"refreshed {path.parent.name}/{path.name}", markup=False)
    for path in refresh_docs(lang=lang):
        console.print(f"new page to translate: docs/{lang}/{path.name}", markup=False)
    words = translation_report(lang)
    console.print(
        f"{lang}: {words.translated}/{words.total} files fully translated; "
        f"{len(words.problems)} problems, {len(words.notes)} drafts (dev check lists them)"
    )


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


def _take_lang_option(argv: list[str]) -> None:
    """``--lang ko`` after a command (``lessonlib hint 01.1 --lang ko``) means the same as
    before it: the language is taken out of argv and set for the whole run."""
    for i, arg in enumerate(argv[1:], 1):
        if arg == "--":
            return
        if arg.startswith("--lang=") or (arg == "--lang" and i + 1 < len(argv)):
            value = arg.split("=", 1)[1] if "=" in arg else argv[i + 1]
            if i == 1:
                return  # before the command: typer's own option
            del argv[i : i + (1 if "=" in arg else 2)]
            os.environ["LESSONLIB_LANG"] = value
            set_language(value)
            return


def main() -> None:
    """Entry point: run the app, turning learner errors into one sentence and exit 2."""
    _take_lang_option(sys.argv)
    try:
        app()
    except LessonlibError as exc:
        if _state["debug"]:
            raise
        print(_("error: {message}").format(message=exc), file=sys.stderr)
        sys.exit(exc.code)
    except KeyboardInterrupt:
        print(_("interrupted."), file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
