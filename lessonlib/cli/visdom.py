"""``lessonlib visdom``: serve Visdom's UI offline until Ctrl-C."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

VISDOM_DEFAULT_PORT = 8097


def register(app: typer.Typer) -> None:
    """Add the ``visdom`` command to the CLI."""

    @app.command("visdom")
    def visdom_cmd(
        port: Annotated[
            int | None,
            typer.Option(help="Port to serve on (default: 8097 when free, else any free port)."),
        ] = None,
        env_path: Annotated[
            Path | None,
            typer.Option(help="Folder of saved environments (default: build/visdom/envs)."),
        ] = None,
    ) -> None:
        """Start a Visdom server on 127.0.0.1, print its URL, and stop it on Ctrl-C."""
        from lessonlib.errors import LessonlibError
        from lessonlib.visdom import start_visdom
        from lessonlib.web import port_is_free

        if port is not None and not port_is_free(port):
            raise LessonlibError(
                f"port {port} is already in use: pick another with --port, or leave it out."
            )
        if port is None and port_is_free(VISDOM_DEFAULT_PORT):
            port = VISDOM_DEFAULT_PORT
        server = start_visdom(env_path, port)
        try:
            print(
                f"Visdom is serving {server.url} (answered in {server.started_in:.1f} s; "
                f"environments saved under {server.env_path}); press Ctrl-C to stop it.",
                flush=True,
            )
            print(f"connect from Python: Visdom(port={server.port})", flush=True)
            while server.running():
                time.sleep(0.2)
            raise LessonlibError(f"the Visdom server stopped by itself; see {server.log}.")
        except KeyboardInterrupt:
            print("stopping Visdom.", flush=True)
        finally:
            server.stop()
