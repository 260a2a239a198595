"""``lessonlib tensorboard [LESSON|LOGDIR]``: serve a lesson's (or any folder's) event files.

Only typer and the standard library are imported here; the server code loads inside the
command, so ``lessonlib --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def resolve_logdir(target: str | None) -> Path:
    """The folder to serve: an existing folder as given, a lesson id's build folder, or build/."""
    from lessonlib.errors import LessonlibError
    from lessonlib.paths import build_dir

    run_first = "run a lesson first, e.g. 'lessonlib run 04'"
    if target is None:
        folder = build_dir(create=False)
    elif Path(target).is_dir():
        folder, run_first = Path(target), "write some with a SummaryWriter first"
    elif target.split("_", 1)[0].isdigit():
        from lessonlib.course.catalog import find_lesson

        lesson = find_lesson(target)  # an unknown id ends here, in one sentence
        folder, run_first = (
            build_dir(lesson.id, create=False),
            f"run 'lessonlib run {lesson.id}' first",
        )
    else:
        raise LessonlibError(
            f"{target} is neither a lesson id (such as 04) nor a folder: give one of them."
        )
    from lessonlib.tensorboard import has_event_files

    if not folder.is_dir() or not has_event_files(folder):
        raise LessonlibError(f"{folder} holds no TensorBoard event files yet: {run_first}.")
    return folder


def register(app: typer.Typer) -> None:
    """Add the ``tensorboard`` command to the lessonlib CLI."""

    @app.command("tensorboard")
    def tensorboard_cmd(
        target: Annotated[
            str | None,
            typer.Argument(help="Lesson id (04) or a folder of event files; default: build/."),
        ] = None,
        port: Annotated[
            int, typer.Option(help="Port to try first; a busy one moves to the next free port.")
        ] = 6006,
    ) -> None:
        """Start TensorBoard on a lesson's logs, print its URL, stop it with Ctrl-C."""
        import time

        from lessonlib.tensorboard import start_tensorboard

        logdir = resolve_logdir(target)
        server = start_tensorboard(logdir, port)
        try:
            moved = "" if server.port == port else f" (port {port} was busy)"
            typer.echo(f"TensorBoard serves {logdir} at {server.url}{moved}")
            typer.echo(
                f"From another machine: ssh -L {server.port}:localhost:{server.port} <this host>, "
                f"then open http://localhost:{server.port}/ there. Ctrl-C stops it."
            )
            while server.alive:
                time.sleep(0.5)
            typer.echo(f"TensorBoard exited by itself (exit code {server.process.returncode}).")
            raise typer.Exit(1)
        except KeyboardInterrupt:
            typer.echo("stopping TensorBoard…")
        finally:
            server.stop()
        typer.echo("TensorBoard stopped.")
