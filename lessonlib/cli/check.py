"""``lessonlib check``: one lesson's verdicts as a table, or as JSON for editors and scripts.

Imports only typer at the top; the checking engine is imported inside the command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer


def _first_unfinished():
    """The first lesson whose last recorded check is not all passed (or never checked)."""
    from lessonlib.course.catalog import load_lessons
    from lessonlib.course.progress import cached_check, file_digest

    lessons = load_lessons()
    for lesson in lessons:
        entry = cached_check(lesson.id, file_digest(lesson.exercises_file))
        if entry is None or any(s != "passed" for s in entry["statuses"].values()):
            return lesson
    return lessons[-1]


def check_cmd(
    lesson: Annotated[
        str | None,
        typer.Argument(help="Lesson id, e.g. 01 or 1 (default: the first unfinished lesson)."),
    ] = None,
    root: Annotated[
        Path | None,
        typer.Option(
            help="Folder holding <lesson folder>/exercises.py, a copy of the course, or just "
            "exercises.py; relative to the current folder (default: the course's lessons/)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the verdicts as JSON on stdout.")
    ] = False,
) -> None:
    """Check your exercises for a lesson: passed / failed / not started, points, next hint."""
    from rich.markup import escape
    from rich.table import Table

    from lessonlib.course.catalog import find_lesson
    from lessonlib.course.checking import NOT_STARTED, PASSED, check_lesson
    from lessonlib.course.progress import file_digest, hints_shown, load_state, record_check
    from lessonlib.errors import LessonlibError
    from lessonlib.messages import _

    try:
        target = find_lesson(lesson) if lesson else _first_unfinished()
        if root is not None:
            root = (Path.cwd() / root).resolve()
            if not root.is_dir():
                raise LessonlibError(_("--root {root} is not a folder.").format(root=root))
        report = check_lesson(target, root, warm=True)
    except LessonlibError as exc:
        if as_json:  # editors and scripts read stdout: the error comes as JSON there too
            sys.stdout.write(json.dumps({"error": str(exc)}, ensure_ascii=False) + "\n")
        raise
    if root is None:
        record_check(
            target.id, file_digest(report.exercises_file), report.statuses(), report.earned
        )
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), ensure_ascii=False, indent=1) + "\n")
        if report.earned < report.total:
            raise typer.Exit(1)
        return
    from rich.console import Console

    console = Console(highlight=False)
    if report.problem:
        console.print(report.problem, style="red", markup=False)
    state = load_state()
    from lessonlib.course.i18n import localized

    title = localized(target, ("title",), target.title)
    table = Table(title=_("Lesson {id}: {title}").format(id=target.id, title=escape(title)))
    for col in (_("exercise"), _("title"), _("status"), _("points"), _("why / next hint")):
        table.add_column(col, overflow="fold")
    colours = {"passed": "green", "failed": "red", "not started": "yellow"}
    for res, ex in zip(report.results, target.exercises, strict=True):
        if res.status == PASSED:
            note = ""
        else:
            if res.hint_number and res.status != NOT_STARTED:  # the hint for this failure
                hint = _("hint {number} fits this: lessonlib hint {id} -n {number}")
            elif hints_shown(ex.id, state) >= len(ex.hints):
                hint = _("all hints shown; lessonlib hint {id} -n 1 shows the first again")
            else:
                hint = _("lessonlib hint {id}")
            hint = hint.format(id=ex.id, number=res.hint_number)
            quiet = report.problem or not res.message or res.status == NOT_STARTED
            note = hint if quiet else f"{res.message} · {hint}"
        colour = colours.get(str(res.status), "red")
        table.add_row(
            ex.id,
            escape(localized(target, ("exercises", ex.id, "title"), ex.title)),
            f"[{colour}]{_(str(res.status))}[/]",
            f"{res.earned}/{res.points}",
            escape(note),
        )
    console.print(table)
    console.print(_("points: {earned}/{total}").format(earned=report.earned, total=report.total))
    if report.earned < report.total:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``check`` to the ``lessonlib`` app."""
    app.command("check")(check_cmd)
