"""Figures on a lesson's page: each one numbered, with a caption and an alt text said by the lesson.

``show_figure(fig, caption=..., alt=...)`` is the one call a lesson makes where it would call
``plt.show()``. In a notebook kernel (the docs build, Jupyter) it displays an HTML
``<figure>`` holding the image with its ``alt`` text and a "Figure N." caption; run as a
plain script it prints that caption and where the file was saved.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_figures = {"count": 0}


def show_figure(
    figure: Any,
    *,
    caption: str,
    alt: str,
    name: str | None = None,
    out_dir: Path | None = None,
    width: int | None = None,
    dpi: int = 110,
) -> None:
    """Show a figure with a numbered caption and an alt text; save it first if ``name`` is given.

    ``figure`` is a matplotlib figure or the path of a PNG. ``alt`` says what the picture
    shows (for a reader who cannot see it); ``caption`` says what to look at in it, and may
    use `backticks` for code. With ``name``, a matplotlib figure is saved as
    ``out_dir/name.png`` first. A matplotlib figure is closed afterwards, so it is not shown
    twice. ``width`` caps the displayed width in CSS pixels. Returns nothing, so that a
    notebook cell ending with it shows no ``Out[…]`` line with the file's absolute path.
    """
    path = _figure_png(figure, name, out_dir, dpi)
    if path is None and not hasattr(figure, "savefig"):
        print("(no image: graphviz's dot is missing)")
        return
    data = path.read_bytes() if path is not None else _png_bytes(figure, dpi)
    _display([(data, alt, "")], _next_number(), caption, path, width)
    _close(figure)


def show_figures(
    images: Sequence[Any],
    *,
    caption: str,
    alts: Sequence[str],
    labels: Sequence[str],
    width: int | None = None,
) -> None:
    """Show several images side by side as one numbered figure; each has a label and an alt text."""
    if not len(images) == len(alts) == len(labels):
        raise ValueError("give one alt text and one label per image")
    panels = []
    for image, alt, label in zip(images, alts, labels, strict=True):
        path = _figure_png(image, None, None, 110)
        if path is None and not hasattr(image, "savefig"):
            print("(no image: graphviz's dot is missing)")
            return
        panels.append((path.read_bytes() if path else _png_bytes(image, 110), alt, label))
        _close(image)
    first = next((Path(i) for i in images if isinstance(i, (str, Path))), None)
    _display(panels, _next_number(), caption, first, width)


def _next_number() -> int:
    _figures["count"] += 1
    return _figures["count"]


def _figure_png(figure: Any, name: str | None, out_dir: Path | None, dpi: int) -> Path | None:
    if isinstance(figure, (str, Path)):
        return Path(figure) if Path(figure).exists() else None
    if name is not None:
        out = out_dir if out_dir is not None else Path.cwd()
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{name}.png"
        figure.savefig(path, dpi=dpi, bbox_inches="tight")
        return path
    return None


def _png_bytes(figure: Any, dpi: int) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def _close(figure: Any) -> None:
    if hasattr(figure, "savefig"):
        import matplotlib.pyplot as plt

        plt.close(figure)


def _shown_path(path: Path | None) -> str:
    """The file's path relative to the project (never the machine's absolute path)."""
    if path is None:
        return ""
    from lessonlib.paths import project_root

    try:
        return str(Path(path).resolve().relative_to(project_root()))
    except ValueError:
        return Path(path).name


def _inline_code(text: str) -> str:
    """``text`` escaped for HTML, with `backticks` kept as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def figure_html(
    panels: Sequence[tuple[bytes, str, str]], number: int, caption: str, width: int | None = None
) -> str:
    """The ``<figure>`` markup for PNG panels ``(data, alt, label)`` under one numbered caption."""
    style = f' style="max-width: min(100%, {width}px)"' if width else ""
    parts = []
    for data, alt, label in panels:
        src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        img = f'<img src="{src}" alt="{html.escape(alt, quote=True)}"{style}>'
        if len(panels) > 1:
            img = f"<figure>{img}<figcaption>{_inline_code(label)}</figcaption></figure>"
        parts.append(img)
    body = "".join(parts)
    if len(panels) > 1:
        body = f'<div class="lesson-panels">{body}</div>'
    return (
        f'<figure class="lesson-figure" id="figure-{number}">{body}'
        f"<figcaption><strong>Figure {number}.</strong> {_inline_code(caption)}</figcaption>"
        "</figure>"
    )


def _display(
    panels: list[tuple[bytes, str, str]],
    number: int,
    caption: str,
    path: Path | None,
    width: int | None,
) -> None:
    where = _shown_path(path)
    text = f"Figure {number}. {caption}" + (f" [{where}]" if where else "")
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is None:
        print(text)
        return
    from IPython.display import display

    markup = figure_html(panels, number, caption, width)
    display({"text/html": markup, "text/plain": text}, raw=True)
