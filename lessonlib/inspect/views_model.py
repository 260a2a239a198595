"""The views that need the PyTorch model: summary, graphs, activations, gradients, weights,
Grad-CAM."""

from __future__ import annotations

import math

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
        f"{total:,} parameters ({trainable:,} trainable) and {stats.total_mult_adds / 1e9:.2f} G "
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


# ------------------------------------------------------------------ activations


def activations_view(ctx: Context) -> Section:
    s = Section("activations", "")
    why = ctx.needs_forward("Recording activations")
    if why or ctx.record is None:
        s.status, s.finding = "skipped", why or "the hooked forward pass did not run"
        return s
    layers = ctx.record.layers
    relus = [x for x in layers if x.is_relu]
    dead = [x for x in relus if x.dead]
    changed = [x.name for x in layers if x.changed_in_place]
    rows = ["| ReLU | calls | zeros | dead units |", "|---|---|---|---|"]
    rows += [
        f"| `{x.name}` | {x.calls} | {x.zero_fraction:.0%} | "
        f"{len(x.dead)} of {x.units}{' ⚠' if x.dead else ''} |"
        for x in relus
    ]
    if relus:
        worst = max(relus, key=lambda x: (len(x.dead) / max(x.units, 1), x.zero_fraction))
        s.finding = f"{worst.name}: {worst.zero_fraction:.0%} of activations are zero"
        if dead:
            units = sum(len(x.dead) for x in dead)
            s.status = "flag"
            s.finding += f"; {units} dead units in {len(dead)} ReLU layers (zero for every input)"
        else:
            s.finding += "; no dead units"
    else:
        spread = [x.std for x in layers if not math.isnan(x.std)]
        s.finding = (
            f"no nn.ReLU modules here (nothing to count as dead); output std ranges from "
            f"{min(spread):.2g} to {max(spread):.2g} over {len(layers)} layers"
        )
    if changed:
        s.finding += (
            f"; {len(changed)} layers' outputs are changed in place after their hooks ran "
            f"(e.g. {changed[0]})"
        )
    body = [
        f"One forward pass of the {ctx.inputs[0].shape[0]}-sample batch with a forward hook on "
        f"every one of the {len(layers)} submodules that returned a tensor. A unit (an index "
        "along dimension 1: a channel or a feature) is dead when it is zero for every sample.",
    ]
    if relus:
        body += ["", *rows[: 2 + 40]]
        if len(relus) > 40:
            body.append(f"\n({len(relus) - 40} more ReLU layers not listed)")
    if changed:
        body += [
            "",
            "Changed in place after the hook ran (an in-place op follows; a hook that keeps the "
            "tensor rather than a copy sees the changed values): "
            + ", ".join(f"`{n}`" for n in changed[:12])
            + (" …" if len(changed) > 12 else ""),
        ]
    s.body = "\n".join(body)
    s.figures.append(_activation_figure(ctx, layers, relus))
    return s


def _activation_figure(ctx: Context, layers, relus):
    import numpy as np

    shown = [x for x in layers if x.kind not in ("Sequential", "ModuleList")][:200]
    fig = _figure(11, 5.5 if relus else 3.2)
    axes = fig.subplots(2 if relus else 1, 1, squeeze=False)[:, 0]
    pos = np.arange(len(shown))
    means = np.array([x.mean for x in shown])
    stds = np.array([x.std for x in shown])
    axes[0].fill_between(pos, means - stds, means + stds, alpha=0.3, label="mean ± std")
    axes[0].plot(pos, means, lw=1)
    axes[0].set_ylabel("activation")
    axes[0].set_title("mean ± std of each layer's output, in the order the layers ran", fontsize=9)
    _ticks(axes[0], [x.name for x in shown])
    if relus:
        frac = [x.zero_fraction for x in relus]
        deadf = [len(x.dead) / max(x.units, 1) for x in relus]
        p = np.arange(len(relus))
        axes[1].bar(p, frac, color="tab:blue", label="zeros")
        axes[1].bar(p, deadf, color="tab:red", width=0.5, label="dead units")
        axes[1].set_ylim(0, 1)
        axes[1].set_ylabel("fraction")
        axes[1].legend(fontsize=7, loc="upper right")
        axes[1].set_title("after each ReLU: zero activations and dead units", fontsize=9)
        _ticks(axes[1], [x.name for x in relus])
    return ctx.save(
        fig, "activations", "Per-layer activation statistics from one hooked forward pass.",
        "Top: each layer's output mean with a band of one standard deviation. Bottom: the "
        "fraction of zeros after each ReLU (blue) and of units that never fire (red).",
    )  # fmt: skip


def _ticks(ax, names: list[str], most: int = 40) -> None:
    step = max(1, math.ceil(len(names) / most))
    ax.set_xticks(range(0, len(names), step))
    ax.set_xticklabels(names[::step], rotation=90, fontsize=6)
    ax.set_xlim(-0.5, len(names) - 0.5)


# ------------------------------------------------------------------ gradients


def gradients_view(ctx: Context) -> Section:
    from lessonlib.inspect.analyses import flag_gradients

    s = Section("gradients", "")
    why = ctx.needs_forward("Gradient flow")
    if why or not ctx.flow:
        reason = ctx.loss_text if ctx.loss_text and ctx.flow is None else "no trainable weights"
        s.status, s.finding = "skipped", why or f"gradient flow cannot be measured: {reason}"
        return s
    flow = ctx.flow
    flags = flag_gradients(flow)
    nonzero = {k: v for k, v in flow.items() if v > 0} or flow
    lo, hi = min(nonzero, key=nonzero.get), max(nonzero, key=nonzero.get)
    s.finding = (
        f"mean |grad| spans {nonzero[lo]:.1e} ({lo}) to {nonzero[hi]:.1e} ({hi}) "
        f"over {len(flow)} weights"
    )
    if flags:
        s.status = "flag"
        first = next(iter(flags))
        kinds = sorted(set(flags.values()))
        s.finding += f"; {len(flags)} flagged ({', '.join(kinds)}), first {first}"
    else:
        s.finding += "; none vanishing or exploding"
    rows = ["| weight | mean abs grad | flag |", "|---|---|---|"]
    rows += [f"| `{k}` | {v:.2e} | {flags.get(k, '')} |" for k, v in list(flow.items())[:60]]
    s.body = (
        f"One backward pass of {ctx.loss_text}, through `torch.autograd.grad` (the model's "
        "`.grad` is left alone). Flagged: no gradient at all, below 1e-7 or 10⁴× under the "
        "median (vanishing), above 100 or 10⁴× over the median (exploding).\n\n" + "\n".join(rows)
    )
    import numpy as np

    names = list(flow)
    values = np.array([max(flow[n], 1e-12) for n in names])
    fig = _figure(11, 3.4)
    ax = fig.subplots()
    colours = ["tab:red" if n in flags else "tab:blue" for n in names]
    ax.bar(range(len(names)), values, color=colours)
    ax.set_yscale("log")
    ax.set_ylabel("mean |grad|")
    ax.set_title("gradient flow: mean |grad| per weight, input side on the left", fontsize=9)
    _ticks(ax, names)
    s.figures.append(
        ctx.save(fig, "gradients", "Gradient flow after one backward pass (log scale).",
                 "Bars of mean absolute gradient per weight tensor on a log scale; red bars are "
                 "weights flagged as vanishing, exploding or without gradient.")
    )  # fmt: skip
    return s


# ------------------------------------------------------------------ weights


def weights_view(ctx: Context) -> Section:
    import numpy as np

    s = Section("weights", "")
    named = _weights(ctx)
    if not named:
        s.status, s.finding = "skipped", "the model has no weight tensors"
        return s
    stds = {n: float(np.std(w)) if w.size > 1 else 0.0 for n, w in named.items()}
    bad = [n for n, w in named.items() if not np.isfinite(w).all()]
    flat = [n for n, v in stds.items() if v == 0.0 and named[n].size > 1]
    lo, hi = min(stds, key=stds.get), max(stds, key=stds.get)
    s.finding = (
        f"{len(named)} weight tensors; std from {stds[lo]:.2g} ({lo}) to {stds[hi]:.2g} ({hi})"
    )
    if bad or flat:
        s.status = "flag"
        s.finding += f"; {len(bad)} hold NaN or inf, {len(flat)} are constant"
    picked = _spread(list(named), 12)
    cols = 4
    rows = math.ceil(len(picked) / cols)
    fig = _figure(11, 1.9 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).flatten()
    for ax, name in zip(axes, picked, strict=False):
        w = named[name]
        w = w[np.isfinite(w)]
        ax.hist(w.ravel()[:2_000_000], bins=60, color="tab:blue")
        ax.set_title(f"{name} ({named[name].size:,})", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in axes[len(picked) :]:
        ax.axis("off")
    s.figures.append(
        ctx.save(fig, "weights", f"Histograms of {len(picked)} of the {len(named)} weight tensors.",
                 "One histogram of values per weight tensor, from the input side to the output "
                 "side; a spike at one value marks a constant or dead layer.")
    )  # fmt: skip
    s.body = "Weight matrices and kernels (`dim() >= 2`), in the model's order."
    return s


def _weights(ctx: Context) -> dict:
    """name -> float64 array of each weight (from the module, or from the ONNX initializers)."""
    if ctx.model is not None:
        return {
            n: p.detach().float().cpu().numpy()
            for n, p in ctx.model.named_parameters()
            if p.dim() >= 2
        }
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(ctx.target.onnx_path))
    arrays = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    return {
        n: a.astype("float64") for n, a in arrays.items() if a.ndim >= 2 and a.dtype.kind == "f"
    }


def _spread(items: list, most: int) -> list:
    if len(items) <= most:
        return items
    picks = sorted({round(i * (len(items) - 1) / (most - 1)) for i in range(most)})
    return [items[i] for i in picks]


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
    "activations": activations_view,
    "gradients": gradients_view,
    "weights": weights_view,
    "gradcam": gradcam_view,
}
