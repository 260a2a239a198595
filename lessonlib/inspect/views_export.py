"""The views that leave PyTorch: ONNX (export, checker, onnxruntime), Netron, TensorBoard."""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from pathlib import Path

from lessonlib.inspect.core import Context
from lessonlib.inspect.report import Figure, Section

KEEP_ONNX_BYTES = 5 << 20  # a smaller .onnx stays in the report folder; a larger one is not kept
EXTERNAL_DATA_PARAMS = 20_000_000  # above this many parameters, weights go to a .onnx.data file


def _flatten(value) -> list:
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _flatten(item)]
    return []


@contextlib.contextmanager
def _quiet():
    """Silence the exporter's progress lines and warnings (the report says what matters)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


# ------------------------------------------------------------------ ONNX


def onnx_view(ctx: Context) -> Section:
    s = Section("onnx", "")
    if ctx.model is None:
        return _onnx_file_view(ctx, s)
    why = ctx.needs_forward("ONNX export")
    if why:
        s.status, s.finding = "skipped", why
        return s
    import numpy as np
    import onnx
    import torch

    params = sum(p.numel() for p in ctx.model.parameters())
    small = params * 4 <= KEEP_ONNX_BYTES
    path = (ctx.out if small else ctx.scratch) / "model.onnx"
    large = params > EXTERNAL_DATA_PARAMS
    # A large model's weights go to a .onnx.data file beside it (Netron then loads only the
    # graph), and onnxscript's optimiser is skipped: it halves vit_b_16's export time.
    how = "torch.onnx.export(..., dynamo=True" + (", optimize=False)" if large else ")")
    try:
        with _quiet():
            torch.onnx.export(
                ctx.model, tuple(ctx.inputs), str(path), dynamo=True, verbose=False,
                external_data=large, optimize=not large,
            )  # fmt: skip
    except Exception as first:  # noqa: BLE001 - try the legacy exporter before giving up
        how = "the legacy exporter (dynamo=False) after the dynamo exporter failed"
        try:
            with _quiet():
                torch.onnx.export(ctx.model, tuple(ctx.inputs), str(path), dynamo=False)
        except Exception:  # noqa: BLE001
            s.status = "skipped"
            s.finding = f"ONNX export fails: {type(first).__name__}: {_line(first)}"
            return s
    ctx.onnx_path = path
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path), load_external_data=False)
    ops = {}
    for node in proto.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    sess, feeds = _session(path, ctx.inputs)
    got = sess.run(None, feeds)
    with torch.no_grad():
        want = [t.detach().float().numpy() for t in _flatten(ctx.model(*ctx.inputs))]
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), "?")
    kept = f"kept as `{path.name}`" if small else "not kept in the report (too large)"
    s.body = (
        f"Exported with {how}, opset {opset}, {len(proto.graph.node)} nodes; the file is {kept}. "
        "`onnx.checker.check_model(full_check=True)` passes; onnxruntime runs it on the same "
        "inputs.\n\nOps: " + ", ".join(f"{k} ×{v}" for k, v in _most(ops))
    )
    if len(got) != len(want):
        s.status = "flag"
        s.finding = (
            f"the ONNX graph returns {len(got)} outputs where PyTorch returns {len(want)} tensors, "
            "so they cannot be compared one to one"
        )
        return s
    diffs = [
        float(np.abs(g.astype(np.float64) - w).max()) if w.size else 0.0
        for g, w in zip(got, want, strict=True)
    ]
    worst = max(diffs)
    s.finding = (
        f"ONNX (opset {opset}, {len(proto.graph.node)} nodes) passes the checker and matches "
        f"PyTorch to {worst:.1e} on onnxruntime"
    )
    if not worst <= 1e-3 * max(1.0, max(float(np.abs(w).max()) for w in want if w.size)):
        s.status = "flag"
        s.finding = (
            f"onnxruntime differs from PyTorch by {worst:.1e} (max |diff|): check the export"
        )
    s.figures.append(_parity_figure(ctx, got[0], want[0], worst))
    return s


def _most(counts: dict, n: int = 15) -> list:
    return sorted(counts.items(), key=lambda kv: -kv[1])[:n]


def _session(path: Path, inputs):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    feeds = {n: x.detach().numpy() for n, x in zip(names, inputs, strict=False)}
    return sess, feeds


def _parity_figure(ctx: Context, got, want, worst: float) -> Figure:
    import numpy as np
    from matplotlib.figure import Figure as MplFigure

    g, w = np.asarray(got, dtype=np.float64).ravel(), np.asarray(want, dtype=np.float64).ravel()
    fig = MplFigure(figsize=(9, 3.2), layout="constrained")
    a, b = fig.subplots(1, 2)
    a.scatter(w[:5000], g[:5000], s=3)
    a.set_xlabel("PyTorch output")
    a.set_ylabel("onnxruntime output")
    a.set_title("the first output, value by value", fontsize=9)
    diff = np.abs(g - w)
    b.hist(np.log10(diff + 1e-12), bins=50)
    b.set_xlabel("log10 |onnxruntime - PyTorch|")
    b.set_title(f"max |diff| = {worst:.1e}", fontsize=9)
    return ctx.save(
        fig, "onnx_parity", "onnxruntime against PyTorch on the same inputs.",
        "Left: each output value from onnxruntime against PyTorch's, on the diagonal when they "
        "agree. Right: the histogram of their absolute differences on a log scale.",
    )  # fmt: skip


def _onnx_file_view(ctx: Context, s: Section) -> Section:
    import numpy as np
    import onnx

    path = ctx.target.onnx_path
    ctx.onnx_path = path
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path), load_external_data=False)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {}
    gen = np.random.default_rng(ctx.seed)
    for i, meta in enumerate(sess.get_inputs()):
        if i < len(ctx.inputs):
            feeds[meta.name] = ctx.inputs[i].numpy()
            continue
        shape = [d if isinstance(d, int) else 1 for d in meta.shape]
        feeds[meta.name] = gen.standard_normal(shape).astype(np.float32)
    outs = sess.run(None, feeds)
    shapes = ", ".join(str(tuple(o.shape)) for o in outs)
    s.finding = (
        f"{path.name} passes the checker ({len(proto.graph.node)} nodes) and runs on "
        f"onnxruntime, returning {shapes}; with no PyTorch model there is nothing to compare"
    )
    return s


def _line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[0][:160] if lines else "no message"


# ------------------------------------------------------------------ Netron


def netron_view(ctx: Context) -> Section:
    s = Section("netron", "")
    if ctx.onnx_path is None or not Path(ctx.onnx_path).exists():
        s.status, s.finding = "skipped", "Netron draws the exported ONNX file, and there is none"
        return s
    from lessonlib.netron import screenshot_netron
    from lessonlib.web import chromium_path, free_port, launch

    if chromium_path() is None:
        s.status = "skipped"
        s.finding = "no chromium here to photograph Netron (sudo apt-get install chromium)"
        return s
    port = free_port()
    code = "import sys, netron; sys.argv[0] = 'netron'; netron.main()"
    cmd = [sys.executable, "-c", code, str(Path(ctx.onnx_path).resolve()), "--port", str(port),
           "--host", "127.0.0.1", "--verbosity", "quiet"]  # fmt: skip
    png = ctx.figures / "netron.png"
    with launch(cmd, port, ctx.scratch / "netron.log", name="Netron") as server:
        nodes = screenshot_netron(server.url, png, width=1280, height=900, timeout_s=60)
    s.finding = f"Netron draws {nodes} nodes of the exported graph (the first screen is below)"
    s.body = (
        "To explore it yourself: `lessonlib netron model.onnx` (export it with "
        "`torch.onnx.export`), then click a node to see its attributes and weights."
    )
    s.figures.append(
        Figure("figures/netron.png", "Netron's drawing of the ONNX graph, photographed in "
               "headless chromium.", "The top of the exported graph in Netron: operator boxes "
               "with their weight shapes, edges labelled with tensor shapes.")
    )  # fmt: skip
    return s


# ------------------------------------------------------------------ TensorBoard


def tensorboard_view(ctx: Context) -> Section:
    s = Section("tensorboard", "")
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    from lessonlib.inspect.views_stats import _weights

    logdir = ctx.out / "tensorboard"
    writer = SummaryWriter(str(logdir))
    parts, graph_note = [], ""
    try:
        if ctx.model is not None and not ctx.forward_error:
            try:
                with _quiet():
                    writer.add_graph(ctx.model, tuple(ctx.inputs), use_strict_trace=False)
                parts.append("the graph")
            except Exception as err:  # noqa: BLE001 - tracing fails for some models (vit_b_16)
                graph_note = (
                    f"add_graph's tracing fails ({type(err).__name__}: {_line(err)}), so the log "
                    "has no graph, but "
                )
        weights = _weights(ctx)
        for name, w in weights.items():
            writer.add_histogram(f"weights/{name}", w[np.isfinite(w)].ravel(), 0, bins=64)
        if weights:
            parts.append(f"{len(weights)} weight histograms")
        if ctx.flow:
            for name, value in ctx.flow.items():
                writer.add_scalar(f"grad_mean_abs/{name}", value, 0)
            parts.append(f"{len(ctx.flow)} gradient scalars")
        images = 0
        if ctx.inputs and ctx.inputs[0].dim() == 4 and ctx.inputs[0].shape[1] in (1, 3):
            batch = ctx.inputs[0][:8].float().clamp(0, 1)
            writer.add_images("inputs", batch, 0)
            images += 1
        for name, png in ctx.saved.items():
            if isinstance(png, Path) and png.suffix == ".png":
                writer.add_image(f"report/{name}", _read_png(png), 0, dataformats="HWC")
                images += 1
        if images:
            parts.append(f"{images} images")
    finally:
        writer.close()
    listed = ", ".join(parts) or "nothing"
    s.finding = f"{graph_note}{'it' if graph_note else 'the log'} holds {listed}"
    if graph_note:
        s.status = "flag"
    rel = _relative(logdir)
    s.body = (
        f"Open it with `lessonlib tensorboard {rel}` (it prints the URL): GRAPHS shows the "
        "traced graph, HISTOGRAMS the weights, IMAGES the inputs and this report's figures."
    )
    return s


def _read_png(path: Path):
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name if path.parent == Path.cwd() else str(path)


VIEWS = {"onnx": onnx_view, "netron": netron_view, "tensorboard": tensorboard_view}
