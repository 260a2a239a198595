"""Render Graphviz graphs (torchviz, torchview) to files, and cope when ``dot`` is missing."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

DOT_MISSING = (
    "graphviz's 'dot' program is not installed, so only the .dot source was written; "
    "install it with 'sudo apt-get install graphviz' (or 'make system'), then run the lesson again."
)
_warned = {"dot": False}
_NODE = re.compile(r'^\s*("?[\w.:-]+"?)\s*\[')
_EDGE = re.compile(r"->")


def dot_available() -> bool:
    """Is Graphviz's ``dot`` executable on the PATH?"""
    return shutil.which("dot") is not None


def render(
    graph: Any, name: str, out_dir: Path, formats: tuple[str, ...] = ("svg", "png")
) -> list[Path]:
    """Write ``name.dot`` and, when ``dot`` exists, ``name.svg``/``name.png``; return the paths.

    ``graph`` is a ``graphviz.Digraph`` (what torchviz's ``make_dot`` returns and what
    torchview keeps in ``.visual_graph``). Without ``dot`` the source is still written and a
    one-sentence note says how to install it (once per process).
    """
    import graphviz

    out_dir.mkdir(parents=True, exist_ok=True)
    source_path = out_dir / f"{name}.dot"
    source_path.write_text(graph.source, encoding="utf-8")
    written = [source_path]
    if not dot_available():
        _warn_dot_missing()
        return written
    for fmt in formats:
        target = out_dir / f"{name}.{fmt}"
        try:
            graph.render(outfile=target, format=fmt, cleanup=True)
        except graphviz.ExecutableNotFound:
            _warn_dot_missing()
            return written
        # graphviz writes the DOT source beside the output as <name>; keep only ours.
        stray = out_dir / name
        if stray.is_file():
            stray.unlink()
        written.append(target)
    return written


def _warn_dot_missing() -> None:
    if not _warned["dot"]:
        print(DOT_MISSING, file=sys.stderr)
        _warned["dot"] = True


def graph_size(graph: Any) -> tuple[int, int]:
    """(nodes, edges) declared in a ``graphviz.Digraph``'s body."""
    nodes = edges = 0
    for line in graph.body:
        if _EDGE.search(line):
            edges += 1
        elif _NODE.match(line):
            nodes += 1
    return nodes, edges


def show_image(path: Path | None, width: int | None = None) -> None:
    """Show a PNG inline when running in a notebook (the docs build); else print its path."""
    if path is None or not Path(path).exists():
        print("(no image: graphviz's dot is missing)")
        return
    try:
        from IPython import get_ipython
    except ImportError:
        get_ipython = None  # noqa: N806
    if get_ipython is not None and get_ipython() is not None:
        from IPython.display import Image, display

        display(Image(filename=str(path), width=width))
    else:
        print(f"figure: {path}")


def first(paths: list[Path], suffix: str) -> Path | None:
    """The first path with this suffix (e.g. the PNG among a render's outputs), or None."""
    return next((p for p in paths if p.suffix == suffix), None)
