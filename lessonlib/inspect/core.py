"""``inspect_model``: every view of one model, written as one report folder.

The views share one hooked forward pass (activation statistics, the autograd graph) and one
``torch.autograd.grad`` (gradient flow). Each view is a function of a :class:`Context` that
returns a :class:`Section`; a view that cannot apply returns one saying why, and a view that
fails is reported in one sentence while the others are still written. The caller's model
keeps its weights, buffers, mode and ``.grad``, and holds no hooks afterwards.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lessonlib.inspect.report import Figure, Section, one_sentence, write_report
from lessonlib.inspect.target import (
    InputSpec,
    InspectError,
    Target,
    example_batch,
    load_target,
    parse_input,
)

VIEWS = (
    "summary",
    "graphs",
    "activations",
    "gradients",
    "weights",
    "gradcam",
    "onnx",
    "netron",
    "tensorboard",
)
TITLES = {
    "summary": "Summary (torchinfo)",
    "graphs": "Module graph (torchview) and autograd graph",
    "activations": "Activations per layer (forward hooks)",
    "gradients": "Gradient flow (mean absolute gradient per weight)",
    "weights": "Weight histograms",
    "gradcam": "Grad-CAM",
    "onnx": "ONNX export, checker and onnxruntime parity",
    "netron": "Netron view of the ONNX graph",
    "tensorboard": "TensorBoard log",
}
REPORT_MARK = "report.md"


@dataclass
class Context:
    """What the views share: the model, its inputs, where to write, and the shared passes."""

    target: Target
    specs: list[InputSpec]
    out: Path
    scratch: Path
    seed: int = 0
    layer: str | None = None
    make_inputs: Any = None  # builds the example batch the first time a view needs it
    _inputs: list | None = field(default=None, repr=False)
    forward_error: str | None = None
    record: Any = None  # analyses.ForwardRecord
    loss_text: str = ""
    flow: dict[str, float] | None = None
    onnx_path: Path | None = None
    cam_layer: str | None = None
    saved: dict[str, Any] = field(default_factory=dict)  # figures a later view reuses

    @property
    def model(self):
        return self.target.model

    @property
    def inputs(self) -> list:
        """The example batch, made on first use (a 256×3×512×512 batch of shapes takes
        seconds, and is never needed when the summary already shows the forward pass fails)."""
        if self._inputs is None:
            self._inputs = list(self.make_inputs()) if self.make_inputs is not None else []
        return self._inputs

    @inputs.setter
    def inputs(self, value: list) -> None:
        self._inputs = list(value)

    @property
    def figures(self) -> Path:
        path = self.out / "figures"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def save(self, fig, name: str, caption: str, alt: str, dpi: int = 80) -> Figure:
        """Save a matplotlib figure as ``figures/<name>.png``; return it as a report Figure."""
        path = self.figures / f"{name}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        self.saved[name] = path
        return Figure(f"figures/{name}.png", caption, alt)

    def needs_forward(self, what: str) -> str | None:
        """Why ``what`` cannot run (no PyTorch model, or its forward pass fails), or None."""
        if self.model is None:
            return f"{what} needs a PyTorch model, and an ONNX file holds none"
        if self.forward_error:
            return f"{what} needs a forward pass, and it fails at this input (see the summary)"
        return None


@dataclass
class InspectResult:
    """Where the report went and what each view found."""

    name: str
    out: Path
    html: Path
    markdown: Path
    sections: list[Section]
    seconds: float

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)

    def embedded_html(self) -> str:
        """The report's sections as one HTML fragment with its figures inlined (for a page)."""
        from lessonlib.inspect.report import sections_html

        return sections_html(self.sections, inline_from=self.out)


def inspect_model(
    target: Any,
    inputs: list[str] | tuple[str, ...] = ("1,3,224,224",),
    *,
    weights: str | Path | None = None,
    dtype: str | None = None,
    layer: str | None = None,
    image: str | Path | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    name: str | None = None,
    skip: tuple[str, ...] | set[str] = (),
) -> InspectResult:
    """Write ``build/inspect/<name>/report.html`` and ``report.md`` with every view of a model.

    ``target`` is a target string (see :func:`lessonlib.inspect.target.load_target`) or an
    ``nn.Module``; ``inputs`` one shape string per forward argument; ``skip`` names views to
    leave out (they are reported as skipped).
    """
    import torch

    from lessonlib.paths import build_dir

    t0 = time.perf_counter()
    unknown = set(skip) - set(VIEWS)
    if unknown:
        raise InspectError(f"--skip {sorted(unknown)[0]!r} is not a view: use {', '.join(VIEWS)}.")
    specs = [parse_input(s) if not isinstance(s, InputSpec) else s for s in inputs]
    loaded, restore = _load(target, name, seed, weights, dtype)
    if loaded.kind != "onnx" and not specs:
        raise InspectError("give the model's input shape, e.g. --input 1,3,224,224.")
    folder = Path(out) if out is not None else build_dir("inspect", loaded.name, create=False)
    _fresh_folder(folder)
    scratch = folder / ".scratch"  # a large .onnx and the Netron log; gone at the end
    scratch.mkdir()
    ctx = Context(loaded, specs, folder, scratch, seed=seed, layer=layer)
    sections: list[Section] = []
    try:
        if specs:

            def make_inputs() -> list:
                batch = example_batch(specs, seed, image)
                if dtype is not None:
                    from lessonlib.inspect.target import torch_dtype

                    want = torch_dtype(dtype)
                    batch = [x.to(want) if x.is_floating_point() else x for x in batch]
                return batch

            ctx.make_inputs = make_inputs
        from lessonlib.inspect import views_export, views_model, views_stats

        runners = {**views_model.VIEWS, **views_stats.VIEWS, **views_export.VIEWS}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for key in VIEWS:
                if key == "graphs" and ctx.model is not None and not ctx.forward_error:
                    views_model.shared_passes(ctx)
                sections.append(_run_view(key, runners[key], ctx, key in skip))
                if key == "gradcam":
                    ctx.record = None  # the graph of the shared pass is no longer needed
    finally:
        restore()
        shutil.rmtree(scratch, ignore_errors=True)
    title = f"Inspecting {loaded.name}"
    shapes = ", ".join(str(s) for s in specs) or "the file's own input shapes"
    notes = "".join(f"; {n}" for n in loaded.notes)
    intro = (
        f"`{loaded.source}` with input {shapes} (seed {seed}{notes}). Each view below states "
        "what it found in one sentence; a view that cannot apply says why."
    )
    md_path, html_path = write_report(folder, title, intro, sections)
    return InspectResult(
        loaded.name, folder, html_path, md_path, sections, time.perf_counter() - t0
    )


def _load(target, name, seed, weights, dtype):
    """The Target, and a function that puts a caller's own module back as it was."""
    from torch import nn

    if not isinstance(target, nn.Module):
        loaded = load_target(str(target), seed=seed, weights=weights, dtype=dtype)
        if name:
            loaded.name = name
        return loaded, lambda: None
    if weights is not None or dtype is not None:
        raise InspectError("weights and dtype apply to a target string; set them on your module.")
    was_training = target.training
    grads = {id(p): p.grad for p in target.parameters()}
    target.eval()

    def restore() -> None:
        target.train(was_training)
        for p in target.parameters():
            p.grad = grads.get(id(p))

    label = name or type(target).__name__
    return Target(label, "module", f"{type(target).__name__} (a module object)", model=target), (
        restore
    )


def _fresh_folder(folder: Path) -> None:
    """Empty a previous report folder; refuse to write into a folder that holds other things."""
    if folder.exists():
        if not folder.is_dir():
            raise InspectError(f"{folder} is a file: give --out a folder.")
        if any(folder.iterdir()) and not (folder / REPORT_MARK).exists():
            raise InspectError(
                f"{folder} is not empty and holds no earlier report: give --out a new folder."
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def _run_view(key: str, view, ctx: Context, skipped: bool) -> Section:
    if skipped:
        return Section(key, TITLES[key], "Left out on request (--skip).", "skipped")
    t0 = time.perf_counter()
    try:
        section = view(ctx)
    except InspectError:
        raise
    except Exception as err:  # noqa: BLE001 - one view's failure must not stop the others
        section = Section(key, TITLES[key], status="skipped")
        section.finding = f"This view failed: {type(err).__name__}: {_first_line(err)}"
    section.key, section.title = key, TITLES[key]
    section.finding = one_sentence(section.finding)
    section.seconds = time.perf_counter() - t0
    return section


def _first_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[0] if lines else "no message"
