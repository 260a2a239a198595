"""``lessonlib inspect TARGET --input SHAPE``: every view of a model in one offline report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``inspect`` command to the lessonlib CLI."""

    @app.command("inspect")
    def inspect_cmd(
        target: Annotated[
            str,
            typer.Argument(
                help="path/to/file.py:factory, torchvision:resnet18 (random weights), "
                "a TorchScript .pt file or an .onnx file."
            ),
        ],
        input_: Annotated[
            list[str] | None,
            typer.Option(
                "--input",
                help="Input shape, e.g. 1,3,224,224 (add :int64 for token ids); repeat it for "
                "a model with two inputs.",
            ),
        ] = None,
        weights: Annotated[
            Path | None, typer.Option(help="A state dict (.pth) to load into the model.")
        ] = None,
        dtype: Annotated[
            str | None, typer.Option(help="Run the model in this dtype (float64, bfloat16, …).")
        ] = None,
        layer: Annotated[
            str | None, typer.Option(help="The layer for Grad-CAM (default: the last conv block).")
        ] = None,
        image: Annotated[
            Path | None, typer.Option(help="An image for Grad-CAM (default: a seeded shape).")
        ] = None,
        seed: Annotated[int, typer.Option(help="Seed for random weights and inputs.")] = 0,
        out: Annotated[
            Path | None, typer.Option(help="Report folder (default: build/inspect/<name>/).")
        ] = None,
        skip: Annotated[
            list[str] | None,
            typer.Option(help="Leave a view out (summary, graphs, …, netron, tensorboard)."),
        ] = None,
    ) -> None:
        """Write one offline report with every view of a model: summary, graphs, ONNX, Netron,
        activations, gradient flow, weights, Grad-CAM and a TensorBoard log."""
        import os

        os.environ.setdefault("MPLBACKEND", "Agg")
        from lessonlib.inspect import inspect_model

        inputs = list(input_ or [])
        if not inputs and not target.lower().endswith(".onnx"):
            inputs = ["1,3,224,224"]
            typer.echo("no --input given: using 1,3,224,224.")
        result = inspect_model(
            target, inputs, weights=weights, dtype=dtype, layer=layer, image=image, seed=seed,
            out=out, skip=tuple(skip or ()),
        )  # fmt: skip
        for section in result.sections:
            mark = {"flag": "!", "skipped": "-"}.get(section.status, " ")
            typer.echo(f"{mark} {section.key:<12} {section.finding}")
        times = ", ".join(f"{s.key} {s.seconds:.1f}" for s in result.sections if s.seconds >= 0.05)
        typer.echo(f"seconds per view: {times}")
        typer.echo(f"report: {result.html} ({result.seconds:.1f} s); also {result.markdown.name}")
