"""Classroom commands: ``release``, ``grade``, ``gradescope``, ``classroom``, ``check-exercise``.

Imports only typer at the top; the work lives in lessonlib.classroom (release, grade_run,
exports), imported inside each command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _console():
    from rich.console import Console

    return Console(highlight=False)


def release_cmd(
    out_dir: Annotated[
        Path, typer.Argument(help="Folder to write the student copy into (new or empty).")
    ],
) -> None:
    """Write the student copy of the course: stubs, library, visible tests, docs; no solutions."""
    from lessonlib.classroom.release import release

    report = release(out_dir)
    console = _console()
    console.print(
        f"student copy written to {report.out_dir}: {report.files} files, "
        f"{len(report.lessons)} lessons ({', '.join(report.lessons)})"
    )
    console.print(
        "[dim]left out: solutions/ (solutions and hidden cases), build/, site/, .venv/, .git/[/]"
    )


def grade_cmd(
    submissions: Annotated[
        Path, typer.Argument(help="Folder with one folder (or .zip) per student.")
    ],
    lesson: Annotated[str, typer.Option("--lesson", help="Lesson id, e.g. 01.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for grades.csv, results/, feedback/.")],
    jobs: Annotated[
        int | None, typer.Option("--jobs", help="Submissions graded at once (default: CPUs).")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds one submission may run in all.")
    ] = 30.0,
    memory: Annotated[
        int, typer.Option("--memory", help="MiB of memory one submission may add.")
    ] = 2048,
    regrade: Annotated[
        bool, typer.Option("--regrade", help="Grade everyone again, ignoring saved results.")
    ] = False,
) -> None:
    """Grade every student's exercises.py in a sandbox; write grades.csv, results/ and feedback/."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lessonlib.classroom.grade_run import grade

    console = _console()
    with Progress(
        TextColumn("[bold]grading[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
    ) as bar:
        task = bar.add_task("starting graders…", total=None)

        def on_start(total: int, done: int) -> None:
            bar.update(task, total=total, completed=done, description="")

        def on_progress(record: dict) -> None:
            info = record["extra_data"]["lessonlib"]
            bar.update(
                task,
                advance=1,
                description=f"{info['student']}: {record['score']}/{info['max_score']}",
            )

        report = grade(
            submissions,
            lesson,
            out,
            jobs=jobs,
            timeout=timeout,
            memory_mb=memory,
            regrade=regrade,
            on_start=on_start,
            on_progress=on_progress,
        )
    _print_summary(console, report)


def _print_summary(console, report) -> None:
    from rich.table import Table

    s = report.summary
    if report.isolation is not None:
        from lessonlib.classroom.confine import Isolation

        iso = Isolation(**report.isolation)
        style = "dim" if iso.mounts and iso.namespaces != "none" else "yellow"
        console.print(f"[{style}]sandbox: {iso.summary()}[/]")
    table = Table(title=f"Lesson {report.lesson.id}: {report.lesson.title} — {s.students} students")
    table.add_column("")
    table.add_column("")
    pct = 100 * s.mean / s.max_score if s.max_score else 0
    table.add_row("mean score", f"{s.mean:.2f} / {s.max_score} ({pct:.0f}%)")
    widest = max(s.distribution.values(), default=0) or 1
    for score, count in s.distribution.items():
        bar = "█" * round(20 * count / widest)
        table.add_row(f"score {score}", f"{bar} {count}")
    for ex in report.lesson.exercises:
        table.add_row(f"{ex.id} passed", f"{100 * s.pass_rates.get(ex.id, 0):.0f}%")
    for status, count in s.statuses.items():
        if count:
            table.add_row(status, str(count))
    console.print(table)
    console.print(
        f"ran {report.graded} submissions, reused {report.reused} saved results, in "
        f"{report.seconds:.1f} s; "
        f"wrote {report.out_dir / 'grades.csv'}, results/, feedback/"
    )


def gradescope_cmd(
    lesson: Annotated[str, typer.Argument(help="Lesson id, e.g. 01.")],
    out_zip: Annotated[Path, typer.Argument(help="The autograder .zip to write.")],
) -> None:
    """Write a Gradescope autograder bundle (setup.sh, run_autograder) for one lesson."""
    from lessonlib.classroom.exports import gradescope_bundle

    path = gradescope_bundle(lesson, out_zip)
    _console().print(
        f"Gradescope autograder written to {path}: upload it as the "
        "assignment's autograder (Ubuntu base image)."
    )


def classroom_cmd(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for .github/workflows/classroom.yml (default: build/classroom).",
        ),
    ] = None,
    lesson: Annotated[
        list[str] | None, typer.Option("--lesson", help="Only these lessons (repeatable).")
    ] = None,
) -> None:
    """Write a GitHub Classroom autograding workflow: one step per exercise, with its points."""
    from lessonlib.classroom.exports import classroom_workflow

    path, steps = classroom_workflow(out, lesson)
    _console().print(
        f"wrote {path} ({steps} graded steps); copy .github/ into the assignment's "
        "template repository (a `lessonlib release` copy)."
    )


def check_exercise_cmd(
    exercise: Annotated[str, typer.Argument(help="Exercise id, e.g. 01.2.")],
) -> None:
    """Exit 0 when every visible test of one exercise passes (for CI graders, e.g. Classroom)."""
    from lessonlib.classroom.exports import check_exercise

    passed, message = check_exercise(exercise)
    _console().print(message)
    if not passed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the classroom commands to the ``lessonlib`` app."""
    app.command("release")(release_cmd)
    app.command("grade")(grade_cmd)
    app.command("gradescope")(gradescope_cmd)
    app.command("classroom")(classroom_cmd)
    app.command("check-exercise")(check_exercise_cmd)
