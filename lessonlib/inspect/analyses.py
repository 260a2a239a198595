"""The numbers behind the report's activation and gradient views, from hooks and autograd.

One forward pass with a forward hook on every submodule records per-layer statistics (mean,
std, fraction of zeros) and, for ReLUs, which units never fire; one ``torch.autograd.grad``
gives each weight's mean |grad| without touching ``.grad``. Lesson 09's exercises 09.1–09.3
ask a learner to write ``relu_zero_fractions``, ``dead_units`` and ``gradient_flow``: those
three live here and nowhere else in the library.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lessonlib.classroom.guard import refuse

RELUS = (nn.ReLU,)


@dataclass
class LayerStats:
    """One module's outputs over one forward pass (all its calls together)."""

    name: str
    kind: str
    calls: int = 0
    numel: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    zeros: int = 0
    is_relu: bool = False
    active: torch.Tensor | None = None  # per unit (dim 1): fired at least once
    mixed_units: bool = False  # calls with different unit counts
    changed_in_place: bool = False

    @property
    def mean(self) -> float:
        return self.total / self.numel if self.numel else float("nan")

    @property
    def std(self) -> float:
        if self.numel < 2:
            return 0.0
        var = (self.total_sq - self.total**2 / self.numel) / (self.numel - 1)
        return max(var, 0.0) ** 0.5

    @property
    def zero_fraction(self) -> float:
        return self.zeros / self.numel if self.numel else float("nan")

    @property
    def dead(self) -> list[int]:
        if self.active is None or self.mixed_units:
            return []
        return [int(i) for i in torch.nonzero(~self.active).flatten()]

    @property
    def units(self) -> int:
        return 0 if self.active is None else int(self.active.numel())


@dataclass
class ForwardRecord:
    """What one hooked forward pass saw: per-layer stats in call order, and the output."""

    layers: list[LayerStats] = field(default_factory=list)
    output: Any = None


def first_tensor(value: Any) -> torch.Tensor | None:
    """The first floating-point tensor in a (nested) output."""
    if isinstance(value, torch.Tensor):
        return value if value.is_floating_point() else None
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            found = first_tensor(item)
            if found is not None:
                return found
    return None


def hooked_forward(model: nn.Module, inputs: Sequence[torch.Tensor]) -> ForwardRecord:
    """Run ``model(*inputs)`` once with a forward hook on every submodule; hooks removed after.

    Statistics are taken inside the hook, at once, so an in-place op that later changes a
    layer's output cannot change them; the output's version counter is kept, and a layer
    whose output was changed in place after its hook ran is marked ``changed_in_place``.
    The forward runs in the current grad mode (the gradient view reuses its graph).
    """
    refuse("09.1", "lessonlib.inspect.analyses.hooked_forward")
    refuse("09.2", "lessonlib.inspect.analyses.hooked_forward")
    record = ForwardRecord()
    by_name: dict[str, LayerStats] = {}
    versions: list[tuple[LayerStats, torch.Tensor, int]] = []

    def hook(name: str, module: nn.Module):
        def observe(_module, _args, output):
            t = first_tensor(output)
            if t is None or t.is_meta:
                return
            stats = by_name.get(name)
            if stats is None:
                stats = by_name[name] = LayerStats(name, type(module).__name__)
                stats.is_relu = isinstance(module, RELUS)
                record.layers.append(stats)
            with torch.no_grad():
                x = t.detach().float()
                stats.calls += 1
                stats.numel += x.numel()
                stats.total += float(x.sum())
                stats.total_sq += float((x * x).sum())
                stats.zeros += int((x == 0).sum())
                if stats.is_relu and x.dim() >= 2:
                    fired = (x != 0).transpose(0, 1).reshape(x.shape[1], -1).any(1)
                    if stats.active is None:
                        stats.active = fired
                    elif stats.active.shape == fired.shape:
                        stats.active |= fired
                    else:
                        stats.mixed_units = True
            versions.append((stats, t, t._version))

        return observe

    handles = []
    try:
        for name, module in model.named_modules():
            if name:
                handles.append(module.register_forward_hook(hook(name, module)))
        record.output = model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    for stats, tensor, version in versions:
        if tensor._version != version:
            stats.changed_in_place = True
    return record


# ------------------------------------------------------------------ lesson 09's analyses


def relu_zero_fractions(model: nn.Module, inputs: Sequence[torch.Tensor]) -> dict[str, float]:
    """For every ``nn.ReLU`` module: the fraction of its output values that are 0.

    Over all the times the module runs in one forward pass (resnet's blocks call their
    ``relu`` twice). Hooks are removed before returning.
    """
    refuse("09.1", "lessonlib.inspect.analyses.relu_zero_fractions")
    with torch.no_grad():
        record = hooked_forward(model, inputs)
    return {s.name: s.zero_fraction for s in record.layers if s.is_relu}


def dead_units(model: nn.Module, inputs: Sequence[torch.Tensor]) -> dict[str, list[int]]:
    """For every ReLU module: the units (indices along dim 1) that are zero everywhere.

    A unit is dead when its output is 0 for every sample, every position and every call in
    the forward pass.
    """
    refuse("09.2", "lessonlib.inspect.analyses.dead_units")
    with torch.no_grad():
        record = hooked_forward(model, inputs)
    return {s.name: s.dead for s in record.layers if s.is_relu}


def gradient_flow(
    model: nn.Module,
    loss: torch.Tensor | Callable[[], torch.Tensor],
    *,
    min_dim: int = 2,
) -> dict[str, float]:
    """Mean |gradient| of ``loss`` for each parameter with ``dim() >= min_dim`` (the weights).

    ``loss`` is a scalar tensor whose graph reaches the model's parameters, or a function
    that computes it. Uses ``torch.autograd.grad``, so no ``.grad`` is written or added to;
    a weight the loss does not depend on gets 0.0.
    """
    refuse("09.3", "lessonlib.inspect.analyses.gradient_flow")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad and p.dim() >= min_dim]
    if callable(loss) and not isinstance(loss, torch.Tensor):
        loss = loss()
    if not named:
        return {}
    grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    return {
        name: 0.0 if g is None else float(g.detach().abs().float().mean())
        for (name, _), g in zip(named, grads, strict=True)
    }


def flag_gradients(
    flow: dict[str, float], low: float = 1e-7, high: float = 1e2, spread: float = 1e4
) -> dict[str, str]:
    """``{name: "no gradient" | "vanishing" | "exploding"}`` for the weights that look wrong.

    Vanishing: below ``low``, or ``spread`` times smaller than the median; exploding: above
    ``high``, or ``spread`` times larger than the median.
    """
    values = sorted(v for v in flow.values() if v > 0)
    median = values[len(values) // 2] if values else 0.0
    flags = {}
    for name, value in flow.items():
        if value == 0:
            flags[name] = "no gradient"
        elif value < low or (median and value < median / spread):
            flags[name] = "vanishing"
        elif value > high or (median and value > median * spread):
            flags[name] = "exploding"
    return flags


def default_loss(output: Any, seed: int = 0) -> tuple[torch.Tensor, str]:
    """A loss to differentiate, and its description: cross-entropy for (N, C) logits, else MSE."""
    import torch.nn.functional as F  # noqa: N812

    t = first_tensor(output)
    if t is None:
        raise ValueError("the model returns no floating-point tensor to differentiate")
    if t is output and t.dim() == 2 and t.shape[1] > 1:
        gen = torch.Generator().manual_seed(seed)
        target = torch.randint(0, t.shape[1], (t.shape[0],), generator=gen)
        return F.cross_entropy(t.float(), target), "cross-entropy against seeded random labels"
    tensors = [x for x in _flat_tensors(output) if x.is_floating_point() and x.requires_grad]
    return sum((x.float() ** 2).mean() for x in tensors), "the mean square of every output"


def _flat_tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _flat_tensors(item)]
    return []


def autograd_graph_size(output: Any) -> tuple[int, int]:
    """(backward nodes, leaf tensors) of the autograd graph behind ``output``'s tensors."""
    seen: set[int] = set()
    leaves = 0
    stack = [t.grad_fn for t in _flat_tensors(output) if t.grad_fn is not None]
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        if type(fn).__name__ == "AccumulateGrad":
            leaves += 1
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return len(seen), leaves
