"""The views made of numbers per layer: activations, gradient flow, weight histograms."""

from __future__ import annotations

import math

from lessonlib.inspect.core import Context
from lessonlib.inspect.report import Section
from lessonlib.inspect.views_model import _figure

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
            total = sum(x.units for x in relus)
            mostly = [x.name for x in dead if len(x.dead) >= x.units / 2]
            where = f"{len(dead)} ReLU layer" + "s" * (len(dead) > 1)
            s.finding += f"; {units} of {total} units in {where} never fire on this batch"
            if mostly:
                s.status = "flag"
                s.finding += f", and {mostly[0]} is mostly dead"
        else:
            s.finding += "; no dead units"
    else:
        spread = [x.std for x in layers if not math.isnan(x.std)]
        s.finding = (
            f"no nn.ReLU modules here (nothing to count as dead); output std ranges from "
            f"{min(spread):.2g} to {max(spread):.2g} over {len(layers)} layers"
        )
    if changed:
        layers_text = (
            f"{len(changed)} layers' outputs are" if len(changed) > 1 else "1 layer's output is"
        )
        s.finding += f"; {layers_text} changed in place after the hook ran (e.g. {changed[0]})"
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
    if not any(flow.values()):
        s.status = "flag"
        s.finding = (
            f"no weight gets any gradient (all {len(flow)} are 0): a dead layer blocks the "
            "backward pass, or the output does not depend on the weights"
        )
    nonzero = {k: v for k, v in flow.items() if v > 0} or flow
    lo, hi = min(nonzero, key=nonzero.get), max(nonzero, key=nonzero.get)
    s.finding = s.finding or (
        f"mean |grad| spans {nonzero[lo]:.1e} ({lo}) to {nonzero[hi]:.1e} ({hi}) "
        f"over {len(flow)} weights"
    )
    if not any(flow.values()):
        pass
    elif flags:
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
        found = [f"{len(bad)} hold NaN or inf"] * bool(bad) + [f"{len(flat)} are constant"] * bool(
            flat
        )
        s.finding += f"; {' and '.join(found)} (e.g. {(bad or flat)[0]})"
    picked = _spread(list(named), 12)
    cols = 4
    rows = math.ceil(len(picked) / cols)
    fig = _figure(11, 1.9 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).flatten()
    for ax, name in zip(axes, picked, strict=False):
        w = named[name]
        w = w[np.isfinite(w)]
        counts, edges = np.histogram(w, bins=60)
        ax.stairs(counts, edges, fill=True, color="tab:blue")
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


VIEWS = {
    "activations": activations_view,
    "gradients": gradients_view,
    "weights": weights_view,
}
