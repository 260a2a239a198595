"""The views that need the PyTorch model: summary, graphs, activations, gradients, weights,
Grad-CAM."""

from __future__ import annotations

from lessonlib.inspect.core import Context
from lessonlib.inspect.report import Section

TABLE_LINES = 70
READABLE_NODES = 45  # torchview: the deepest depth whose drawing stays under this
TORCHVIZ_NODES = 150  # the autograd graph is drawn only up to this many nodes


def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    return Figure(figsize=(width, height), layout="constrained")


def _trim(text: str, keep: int = TABLE_LINES) -> str:
    lines = text.splitlines()
    if len(lines) <= keep:
        return text
    head, tail = lines[: keep - 20], lines[-19:]
    return "\n".join([*head, f"... {len(lines) - keep + 1} more rows ...", *tail])


def _count(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)}"


def _sizes(ctx: Context):
    import torch

    return [s.shape for s in ctx.specs], [getattr(torch, s.dtype) for s in ctx.specs]


# ------------------------------------------------------------------ summary


def summary_view(ctx: Context) -> Section:
    from lessonlib.summaries import ForwardFailed, summary_on_meta

    s = Section("summary", "")
    if ctx.model is None:
        s.status, s.finding = (
            "skipped",
            "torchinfo summarises PyTorch modules; an ONNX file is none",
        )
        return s
    sizes, dtypes = _sizes(ctx)
    where = "on the meta device (no memory, the weights untouched)"
    try:
        stats = summary_on_meta(ctx.model, sizes, dtypes=dtypes, depth=3, verbose=0)
    except ForwardFailed as err:
        ctx.forward_error = str(err).rstrip(".")
        s.status, s.finding = "flag", f"Caught on the meta device at no cost: {err}"
        return s
    except Exception:  # noqa: BLE001 - meta cannot run every model; real tensors then
        from torchinfo import summary

        stats = summary(ctx.model, input_data=list(ctx.inputs), depth=3, verbose=0, device="cpu")
        where = "on the CPU (this model does not run on the meta device)"
    total, trainable = stats.total_params, stats.trainable_params
    shapes = " and ".join(str(x) for x in ctx.specs)
    s.finding = (
        f"{total:,} parameters ({trainable:,} trainable) and {_count(stats.total_mult_adds)} "
        f"mult-adds for input {shapes}, summarised {where}"
    )
    s.body = f"```text\n{_trim(str(stats))}\n```"
    return s


# ------------------------------------------------------------------ graphs


def graphs_view(ctx: Context) -> Section:
    s = Section("graphs", "")
    why = ctx.needs_forward("Drawing the module graph")
    if why:
        s.status, s.finding = "skipped", why
        return s
    from lessonlib.graphs import dot_available, render

    depth, nodes, graph = _readable_torchview(ctx)
    parts = []
    if graph is not None:
        files = render(graph.visual_graph, "module_graph", ctx.figures, formats=("svg",))
        if dot_available() and any(f.suffix == ".svg" for f in files):
            s.figures.append(
                _fig("figures/module_graph.svg", f"torchview at depth {depth}: {nodes} nodes.",
                     f"The module graph of {ctx.target.name}: boxes are modules with their "
                     "input and output shapes, arrows the tensors between them.")
            )  # fmt: skip
        parts.append(f"torchview draws {nodes} nodes at depth {depth}")
    n_fn, n_leaf = _autograd_size(ctx)
    if n_fn is not None:
        text = f"the autograd graph has {n_fn} backward nodes ({n_leaf} parameter leaves)"
        if n_fn <= TORCHVIZ_NODES and ctx.record is not None:
            _draw_torchviz(ctx, s)
            text += ", drawn below with torchviz"
        else:
            text += f", too many to read drawn (over {TORCHVIZ_NODES})"
        parts.append(text)
    s.finding = "; ".join(parts) or "no graph could be drawn"
    s.body = (
        "torchview shows modules (depth = how many levels of nesting are opened); torchviz "
        "shows autograd's backward functions, one per operation of the forward pass."
    )
    if not dot_available():
        s.body += " Graphviz's `dot` is not installed, so only the `.dot` sources were written."
    return s


def _fig(path, caption, alt):
    from lessonlib.inspect.report import Figure

    return Figure(path, caption, alt)


def _readable_torchview(ctx: Context):
    """The deepest torchview graph (depth 1–4) with at most READABLE_NODES nodes."""
    from torchview import draw_graph

    from lessonlib.graphs import graph_size
    from lessonlib.summaries import example_inputs, meta_copy

    sizes, dtypes = _sizes(ctx)
    best = (0, 0, None)
    for depth in (1, 2, 3, 4):
        try:
            graph = draw_graph(
                meta_copy(ctx.model), input_data=example_inputs(sizes, dtypes), depth=depth,
                device="meta", graph_name=ctx.target.name,
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - meta cannot run every model; real tensors then
            import copy

            graph = draw_graph(
                copy.deepcopy(ctx.model), input_data=list(ctx.inputs), depth=depth, device="cpu",
                graph_name=ctx.target.name,
            )  # fmt: skip
        nodes = graph_size(graph.visual_graph)[0]
        if best[2] is not None and (nodes > READABLE_NODES or nodes == best[1]):
            break
        best = (depth, nodes, graph)
    return best


def _autograd_size(ctx: Context):
    from lessonlib.inspect.analyses import autograd_graph_size

    if ctx.record is None:
        return None, None
    return autograd_graph_size(ctx.record.output)


def _draw_torchviz(ctx: Context, s: Section) -> None:
    from torchviz import make_dot

    from lessonlib.graphs import render
    from lessonlib.inspect.analyses import first_tensor

    out = first_tensor(ctx.record.output)
    dot = make_dot(out, params=dict(ctx.model.named_parameters()))
    files = render(dot, "autograd_graph", ctx.figures, formats=("svg",))
    if any(f.suffix == ".svg" for f in files):
        s.figures.append(
            _fig("figures/autograd_graph.svg", "The autograd graph (torchviz's make_dot).",
                 "Autograd's backward graph: grey boxes are backward functions, blue ones the "
                 "parameters gradients flow into.")
        )  # fmt: skip


# ------------------------------------------------------------------ the shared passes


def shared_passes(ctx: Context) -> None:
    """One hooked forward with grad, and the gradient of a loss w.r.t. every weight."""
    import torch

    from lessonlib.inspect.analyses import default_loss, gradient_flow, hooked_forward

    try:
        with torch.enable_grad():
            ctx.record = hooked_forward(ctx.model, ctx.inputs)
    except Exception as err:  # noqa: BLE001 - the user's forward pass
        from lessonlib.summaries import explain_forward_failure

        sizes, dtypes = _sizes(ctx)
        reason = explain_forward_failure(ctx.model, sizes, dtypes=dtypes, device="cpu")
        ctx.forward_error = (reason or f"{type(err).__name__}: {err}").rstrip(".")
        return
    try:
        with torch.enable_grad():
            loss, ctx.loss_text = default_loss(ctx.record.output, ctx.seed)
            ctx.flow = gradient_flow(ctx.model, loss)
    except Exception as err:  # noqa: BLE001
        ctx.flow, ctx.loss_text = None, f"{type(err).__name__}: {str(err).splitlines()[0]}"


# ------------------------------------------------------------------ Grad-CAM


def gradcam_view(ctx: Context) -> Section:
    s = Section("gradcam", "")
    why = ctx.needs_forward("Grad-CAM")
    if why or ctx.record is None:
        s.status, s.finding = "skipped", why or "the hooked forward pass did not run"
        return s
    from lessonlib.inspect.analyses import first_tensor

    out = ctx.record.output
    x = ctx.inputs[0]
    if len(ctx.inputs) != 1 or x.dim() != 4 or x.shape[1] not in (1, 3):
        s.status = "skipped"
        s.finding = (
            "Grad-CAM is for image classifiers, and this model's input is not one image batch"
        )
        return s
    if not (hasattr(out, "dim") and out.dim() == 2):
        got = type(out).__name__ if first_tensor(out) is not out else f"shape {tuple(out.shape)}"
        s.status = "skipped"
        s.finding = f"Grad-CAM needs (N, classes) logits, and this model returns {got}"
        return s
    from torch import nn

    convs = [n for n, m in ctx.model.named_modules() if isinstance(m, nn.Conv2d)]
    if ctx.layer is None and len(convs) == 1:
        s.status = "skipped"
        s.finding = (
            f"the only conv layer is {convs[0]} (a patch embedding, as in a vision transformer), "
            "so there is no last conv block to explain; give --layer to try one anyway"
        )
        return s
    name = ctx.layer or _last_conv_block(ctx)
    if name is None:
        s.status = "skipped"
        s.finding = "no layer returns a spatial feature map (N, C, H, W), so there is no conv block"
        return s
    from lessonlib.gradcam import grad_cam_and_logits, overlay

    images = x[:4].float() if x.is_floating_point() else x[:4]
    maps, logits = grad_cam_and_logits(ctx.model, name, images.to(x.dtype))
    pred = logits.argmax(1)
    cam = maps[0].float()
    row, col = divmod(int(cam.flatten().argmax()), cam.shape[1])
    ctx.cam_layer = name
    s.finding = (
        f"Grad-CAM at {name} for the predicted class {int(pred[0])}: the map of the first image "
        f"peaks at row {row}, column {col} of {cam.shape[0]}×{cam.shape[1]}"
    )
    if float(cam.max()) == 0.0:
        s.status = "flag"
        s.finding = f"Grad-CAM at {name} is zero everywhere for class {int(pred[0])}"
    n = len(images)
    fig = _figure(2.4 * n, 4.8)
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        img = images[i].float().clamp(0, 1)
        axes[0, i].imshow(img.permute(1, 2, 0).squeeze().numpy(), cmap="gray")
        axes[1, i].imshow(overlay(img, maps[i].float()))
        axes[0, i].set_title(f"input {i}", fontsize=8)
        axes[1, i].set_title(f"class {int(pred[i])}", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    s.figures.append(
        ctx.save(fig, "gradcam", f"Grad-CAM at {name} for each image's predicted class.",
                 "Top row: the input images; bottom row: the same images under the Grad-CAM "
                 "heat map, red where the layer's features pushed the predicted class most.")
    )  # fmt: skip
    s.body = (
        f"Layer `{name}`: " + ("given with --layer." if ctx.layer else "the last module that "
        "returns a spatial (N, C, H, W) map and runs once (the last conv block); pick another "
        "with --layer.") + " The model's weights here are whatever it was given (random for a "
        "torchvision target), so the map shows what *these* weights look at."
    )  # fmt: skip
    return s


def _last_conv_block(ctx: Context) -> str | None:
    hooked = {x.name: x for x in ctx.record.layers}
    shapes = ctx.saved.get("_shapes") or _output_shapes(ctx)
    best = None
    for name, shape in shapes.items():
        if len(shape) == 4 and min(shape[2:]) > 1 and hooked.get(name) and hooked[name].calls == 1:
            best = name
    return best


def _output_shapes(ctx: Context) -> dict:
    """Each module's output shape, in the order modules finish (one no-grad forward)."""
    import torch

    from lessonlib.inspect.analyses import first_tensor

    shapes: dict = {}
    handles = []
    try:
        for name, module in ctx.model.named_modules():
            if name:

                def keep(_m, _a, out, name=name):
                    t = first_tensor(out)
                    if t is not None:
                        shapes.pop(name, None)
                        shapes[name] = tuple(t.shape)

                handles.append(module.register_forward_hook(keep))
        with torch.no_grad():
            ctx.model(*ctx.inputs[:1])
    finally:
        for h in handles:
            h.remove()
    return shapes


VIEWS = {
    "summary": summary_view,
    "graphs": graphs_view,
    "gradcam": gradcam_view,
}
