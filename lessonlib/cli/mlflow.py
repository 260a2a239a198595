"""``lessonlib mlflow [LESSON|STORE]``: serve an MLflow store (REST API and UI) until Ctrl-C.

Only typer and the standard library are imported here; MLflow loads in the server's own
process, so ``lessonlib --help`` stays instant.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated

import typer

MLFLOW_DEFAULT_PORT = 5000
STORE_NAME = "mlflow.db"  # the store a lesson keeps in its build folder


def resolve_store(target: str | None) -> Path:
    """The store to serve: a SQLite file as given, a folder's or a lesson's ``mlflow.db``."""
    from lessonlib.errors import LessonlibError
    from lessonlib.paths import build_dir

    if target is None or target.split("_", 1)[0].isdigit() and not Path(target).exists():
        from lessonlib.course.catalog import find_lesson

        lesson = find_lesson(target or "08")  # an unknown id ends here, in one sentence
        store = build_dir(lesson.id, create=False) / STORE_NAME
        if not store.is_file():
            raise LessonlibError(
                f"{store} holds no MLflow runs yet: run 'lessonlib run {lesson.id}' first, "
                "or give a store file."
            )
        return store
    path = Path(target)
    if path.is_dir():
        path = path / STORE_NAME
    if path.exists() and not path.is_file():
        raise LessonlibError(f"{path} is not a file: give an MLflow SQLite store (a .db file).")
    if not path.exists() and not path.parent.is_dir():
        raise LessonlibError(f"{path.parent} does not exist: give a store in an existing folder.")
    return path


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    """Add the ``mlflow`` command to the lessonlib CLI."""

    @app.command("mlflow")
    def mlflow_cmd(
        target: Annotated[
            str | None,
            typer.Argument(help="Lesson id (08) or an MLflow SQLite store; default: lesson 08's."),
        ] = None,
        port: Annotated[
            int | None,
            typer.Option(help="Port to serve on (default: 5000 when free, else any free port)."),
        ] = None,
    ) -> None:
        """Start an MLflow tracking server on 127.0.0.1, print its URL, stop it with Ctrl-C."""
        from lessonlib.errors import LessonlibError
        from lessonlib.mlflow_server import start_mlflow, wait_for_mlflow
        from lessonlib.web import port_is_free

        # Ctrl-C and kill stop the server, even when a shell started us with SIGINT ignored
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        store = resolve_store(target)
        if port is None and port_is_free(MLFLOW_DEFAULT_PORT):
            port = MLFLOW_DEFAULT_PORT
        server = start_mlflow(store, port, wait=False)
        try:
            print(f"MLflow is starting at {server.url} on {store} …", flush=True)
            wait_for_mlflow(server)
            print(
                f"MLflow answers at {server.url} (after {server.started_in:.1f} s); "
                f"open it in a browser, press Ctrl-C to stop it.",
                flush=True,
            )
            print(f"connect from Python: mlflow.set_tracking_uri('{server.url}')", flush=True)
            while server.running():
                time.sleep(0.2)
            raise LessonlibError(f"the MLflow server stopped by itself; see {server.log}.")
        except KeyboardInterrupt:
            print("stopping MLflow.", flush=True)
        finally:
            server.stop(timeout=1.5)
