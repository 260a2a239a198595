"""``lessonlib netron model.onnx``: serve a model file in Netron until Ctrl-C."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``netron`` command to the CLI."""

    @app.command("netron")
    def netron_cmd(
        model: Annotated[Path, typer.Argument(help="The model file (.onnx, .pt, .tflite, ...).")],
        port: Annotated[
            int | None, typer.Option(help="Port to serve on (default: a free one).")
        ] = None,
    ) -> None:
        """Serve a model in Netron on 127.0.0.1, print the URL, and stop on Ctrl-C."""
        from lessonlib.netron import serve_netron

        server = serve_netron(model, port=port)
        try:
            print(
                f"Netron is serving {model} at {server.url}; open it in a browser, "
                "press Ctrl-C to stop.",
                flush=True,
            )
            while server.running():
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("stopping Netron.", flush=True)
        finally:
            server.stop()
