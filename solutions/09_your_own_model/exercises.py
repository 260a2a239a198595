"""Lesson 09 exercises, solved: four of the report's analyses with hooks and autograd."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn


def _relu_outputs(model: nn.Module, x: torch.Tensor, keep) -> None:
    """Run ``model(x)`` once (no graph) with ``keep(name, output)`` hooked on every nn.ReLU."""
    handles = []
    try:
        for name, module in model.named_modules():
            if isinstance(module, nn.ReLU):
                handles.append(
                    module.register_forward_hook(lambda m, i, out, name=name: keep(name, out))
                )
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()


def relu_zero_fractions(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """For every ``nn.ReLU`` module that runs in ``model(x)``: the fraction of zero outputs."""
    counts: dict[str, list[int]] = {}

    def keep(name: str, out: torch.Tensor) -> None:
        zeros, total = counts.setdefault(name, [0, 0])
        counts[name] = [zeros + int((out == 0).sum()), total + out.numel()]

    _relu_outputs(model, x, keep)
    return {name: zeros / total for name, (zeros, total) in counts.items()}


def dead_units(model: nn.Module, x: torch.Tensor) -> dict[str, list[int]]:
    """For every ``nn.ReLU`` module that runs in ``model(x)``: its dead units, as sorted indices."""
    fired: dict[str, torch.Tensor] = {}

    def keep(name: str, out: torch.Tensor) -> None:
        alive = (out != 0).transpose(0, 1).reshape(out.shape[1], -1).any(dim=1)
        fired[name] = fired[name] | alive if name in fired else alive

    _relu_outputs(model, x, keep)
    return {name: torch.nonzero(~alive).flatten().tolist() for name, alive in fired.items()}


def gradient_flow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Mean |gradient| of the cross-entropy loss for each weight of ``model``."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2]
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    return {
        name: 0.0 if g is None else g.abs().mean().item()
        for (name, _), g in zip(named, grads, strict=True)
    }


def failing_layer(model: nn.Module, input_shape: tuple[int, ...]) -> str | None:
    """The name of the module whose forward fails on an input of ``input_shape``, or None."""
    twin = copy.deepcopy(model).to("meta")
    running: list[str] = []

    def started(name: str):
        return lambda _module, _args: running.append(name)  # append returns None

    def finished(_module, _args, _output) -> None:  # a hook returning a value replaces the output
        running.pop()

    handles = []
    for name, module in twin.named_modules():
        handles.append(module.register_forward_pre_hook(started(name)))
        handles.append(module.register_forward_hook(finished))
    try:
        with torch.no_grad():
            twin(torch.empty(input_shape, device="meta"))
    except Exception:  # noqa: BLE001 - any failure: the innermost running module is the answer
        return running[-1] if running else ""
    finally:
        for handle in handles:
            handle.remove()
    return None
