"""Lesson 09's visible checks: each analysis against a reference computed here with torch itself.

``lessonlib check 09``, ``pytest`` and ``lessonlib grade`` all run these cases. Builders make
seeded models with planted problems (dead units, a ReLU called twice, an in-place op after a
ReLU, a frozen layer, a shape that does not fit); judges recompute the answer with their own
hooks, ``torch.autograd.grad`` or a meta-device run, never with a solution.
"""

from __future__ import annotations

import copy
import sys
from functools import partial

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from lessonlib.classroom.cases import Case, Inputs, expect, expect_close, expect_same_list, show
from lessonlib.classroom.references.call_start import read_observed, with_hook, write_observed
from lessonlib.classroom.references.gradcam import global_hook_total, hook_total
from lessonlib.messages import _

# ---------------------------------------------------------------- models with planted problems


def _seeded(seed: int):
    gen = torch.Generator().manual_seed(seed)
    return gen


def dead_mlp(seed: int = 0, dead: tuple[int, ...] = (2, 5, 11), dropout: float = 0.0):
    """Linear-ReLU-Linear-ReLU-Linear whose first layer's units ``dead`` have a bias of -50."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers = [nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        model = nn.Sequential(*layers, nn.Linear(16, 4))
    with torch.no_grad():
        for unit in dead:
            model[0].bias[unit] = -50.0
    return model.eval()


class TwiceBlock(nn.Module):
    """A residual block that calls one ReLU twice and adds the input in place after the first."""

    def __init__(self, channels: int = 6) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.conv1(x))
        h += 0.25  # in place, right after the ReLU's hook saw h
        h = self.relu(self.conv2(h) + x)
        return self.fc(self.pool(h).flatten(1))


def twice_block(seed: int = 0) -> TwiceBlock:
    """Channel 0 dies in the first call only, channel 1 in the second only, channel 2 in both."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TwiceBlock()
    with torch.no_grad():
        model.conv1.bias[0] = -100.0
        model.conv1.bias[2] = -100.0
        model.conv2.bias[1] = -100.0
        model.conv2.bias[2] = -100.0
    return model.eval()


def inplace_cnn(seed: int = 0, frozen: bool = False) -> nn.Sequential:
    """Conv, ReLU(inplace), Conv, BatchNorm, ReLU(inplace), pool, Linear (3×12×12 inputs)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Conv2d(3, 8, 3), nn.ReLU(inplace=True), nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8),
            nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 5),
        )  # fmt: skip
        with torch.no_grad():
            model[3].running_mean.uniform_(-0.5, 0.5)
            model[3].running_var.uniform_(0.5, 2.0)
    if frozen:
        model[0].requires_grad_(False)
    return model.eval()


class WithSpare(nn.Module):
    """An MLP with a layer its forward never uses."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(10, 12), nn.ReLU(), nn.Linear(12, 4))
        self.spare = nn.Linear(12, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def with_spare(seed: int = 0) -> WithSpare:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return WithSpare().eval()


class FlattenThenLinear(nn.Module):
    """A CNN whose head expects the 8×8 grid of a 32×32 image; its forward reshapes by hand."""

    def __init__(self, by_hand: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 8 * 8, 10))
        self.by_hand = by_hand

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        if self.by_hand:
            return self.head[1](h.view(h.shape[0], 16 * 8 * 8))
        return self.head(h)


def _batch(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=_seeded(seed))


def model_and_batch(kind: str, seed: int = 0, n: int = 32) -> Inputs:
    """(model, x) for 09.1 and 09.2."""
    if kind == "mlp":
        return Inputs(dead_mlp(seed), _batch((n, 10), seed + 1))
    if kind == "twice":
        return Inputs(twice_block(seed), _batch((n, 6, 8, 8), seed + 1))
    if kind == "cnn":
        return Inputs(inplace_cnn(seed), _batch((n, 3, 12, 12), seed + 1))
    if kind == "one_sample":
        # Unit 0 of the first ReLU fires for sample 3 only: it is alive.
        model = dead_mlp(seed, dead=(0, 1))
        x = _batch((n, 10), seed + 1)
        with torch.no_grad():
            model[0].bias[0] = -5.0
            model[0].weight[0] = 0.0
            model[0].weight[0, 0] = 1.0
            x[:, 0] = -1.0
            x[3, 0] = 10.0
        return Inputs(model, x)
    raise ValueError(f"unknown kind {kind!r}")


def loss_case(kind: str, seed: int = 0, n: int = 16) -> Inputs:
    """(model, x, y) for 09.3; every parameter's .grad already holds ones."""
    if kind == "mlp":
        model, x = dead_mlp(seed, dead=(1,), dropout=0.5), _batch((n, 10), seed + 1)
        classes = 4
    elif kind == "cnn":
        model, x, classes = inplace_cnn(seed, frozen=True), _batch((n, 3, 12, 12), seed + 1), 5
    elif kind == "spare":
        model, x, classes = with_spare(seed), _batch((n, 10), seed + 1), 4
    else:
        raise ValueError(f"unknown kind {kind!r}")
    y = torch.randint(0, classes, (n,), generator=_seeded(seed + 2))
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    return Inputs(model, x, y)


def shape_case(kind: str, shape: tuple[int, ...]) -> Inputs:
    """(model, input shape) for 09.4."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = FlattenThenLinear(by_hand=kind == "by_hand")
    if kind == "nested":
        model = nn.Sequential(nn.Identity(), model)
    return Inputs(model.eval(), tuple(shape))


# ---------------------------------------------------------------- an earlier call, watched


def _state(model: nn.Module) -> dict:
    """What a call must leave as it was: hooks, mode, where the weights live, their .grad."""
    params = list(model.parameters())
    return {
        "hooks": hook_total(model),
        "training": model.training,
        "devices": sorted({str(p.device) for p in params}),
        "sum": float(sum(p.detach().double().sum() for p in params if not p.is_meta)),
        "grads": sorted(
            {"none" if p.grad is None else f"{float(p.grad.sum()):.6g}" for p in params}
        ),
    }


def _watch(function: str, call: tuple):
    """A ``before`` step: call the learner's ``function`` once on ``call`` and record what it
    left behind on the model (and whether it raised)."""

    def before(args: tuple) -> None:
        func = sys.modules["exercises"].__dict__.get(function)
        model, raised = call[0], None
        start, hooks = _state(model), global_hook_total()
        try:
            func(*call)
        except Exception as exc:  # noqa: BLE001 - recorded for the judge
            raised = type(exc).__name__
        after = {**_state(model), "global": global_hook_total() - hooks, "raised": raised}
        write_observed("call", {"before": start, "after": after})

    return before


def watched(function: str, kind: str, *args) -> Inputs:
    """A case whose sandbox first calls ``function`` once more and records what it left.

    For 09.1/09.2 (``kind`` "bad_batch") that earlier call gets a batch the model refuses, so
    it must raise, and leave no hook behind; for 09.3 and 09.4 it is the same call as the
    case's, and the model must keep its hooks, mode, weights and .grad.
    """
    if kind == "bad_batch":
        inputs = model_and_batch(*args)
        earlier = (inputs.args[0], inputs.args[1][:, :-1])  # one channel or feature short
    elif kind == "loss":
        inputs = loss_case(*args)
        earlier = inputs.args
    else:
        inputs = shape_case(*args)
        earlier = inputs.args
    return with_hook(inputs, _watch(function, earlier))


def left_as_it_was(inputs, files, function: str, hint: int) -> None:
    """Judge what the watched earlier call left on the model."""
    if inputs.before is None:
        return
    record = read_observed(files, "call")
    expect(record, _("the grader's record of the earlier call is missing (did you delete it?)."))
    start, after = record["before"], record["after"]
    raised = after["raised"]
    done = _("after it raised {error}").format(error=raised) if raised else _("after it returned")
    keep = _("keep every handle and remove it in a finally block")
    expect(
        after["hooks"] == start["hooks"],
        _("{function}() left hooks on the model {after}: {keep}.").format(
            function=function, after=done, keep=keep
        ),
        hint,
    )
    expect(
        not after["global"],
        _("{function}() left a global module hook {after}: {keep}.").format(
            function=function, after=done, keep=keep
        ),
        hint,
    )
    expect(
        after["training"] == start["training"],
        _("{function}() changed the model's mode.").format(function=function),
        hint,
    )
    expect(
        after["devices"] == start["devices"] and after["sum"] == start["sum"],
        _(
            "{function}() moved or changed the caller's weights (devices now {devices}): "
            "work on a copy."
        ).format(function=function, devices=after["devices"]),
        hint,
    )
    expect(
        after["grads"] == start["grads"],
        _(
            "{function}() changed the parameters' .grad: use torch.autograd.grad, not backward()."
        ).format(function=function),
        hint,
    )


# ---------------------------------------------------------------- references


def reference_relu_outputs(model: nn.Module, x: torch.Tensor):
    """{name: [zeros, values, fired-per-unit or None]} over all calls, taken inside the hook."""
    seen: dict[str, list] = {}

    def hook(name):
        def record(_module, _args, out):
            zeros, total, fired = seen.get(name, [0, 0, None])
            alive = (out != 0).movedim(1, 0).reshape(out.shape[1], -1).any(1)
            fired = alive if fired is None else fired | alive
            seen[name] = [zeros + int((out == 0).sum()), total + out.numel(), fired]

        return record

    twin = copy.deepcopy(model)
    for name, module in twin.named_modules():
        if type(module) is nn.ReLU:
            module.register_forward_hook(hook(name))
    with torch.no_grad():
        twin(x.clone())
    return seen


def _names(got, want: dict, what: str, hint: int | None = None) -> None:
    expect(
        isinstance(got, dict),
        _("return a dict of {what}, not {got}.").format(what=what, got=show(got)),
    )
    mine, names = sorted(map(str, got)), sorted(want)
    extra = sorted(set(mine) - set(names))
    expect(
        not extra,
        _("{names} are not nn.ReLU modules that run here.").format(names=show(extra[:3])),
        hint,
    )
    expect_same_list(mine, names, _("names (sorted)"), hint)


# ---------------------------------------------------------------- 09.1


def same_zero_fractions(got, inputs, files) -> None:
    left_as_it_was(inputs, files, "relu_zero_fractions", hint=1)
    want = {n: z / t for n, (z, t, _) in reference_relu_outputs(*inputs.args).items()}
    _names(got, want, _("ReLU name -> fraction"), hint=1)
    for name, value in want.items():
        what = _("the fraction of zeros after {name!r}").format(name=name)
        expect_close(got[name], value, what, rtol=1e-6, atol=1e-9, hint=2)


# ---------------------------------------------------------------- 09.2


def same_dead_units(got, inputs, files) -> None:
    left_as_it_was(inputs, files, "dead_units", hint=1)
    refs = reference_relu_outputs(*inputs.args)
    want = {n: torch.nonzero(~fired).flatten().tolist() for n, (_, _, fired) in refs.items()}
    _names(got, want, _("ReLU name -> dead unit indices"), hint=1)
    for name, units in want.items():
        mine = got[name]
        expect(
            type(mine) is list and all(type(i) is int for i in mine),
            _("{name}: return a list of ints, not {got}.").format(name=name, got=show(mine)),
            hint=3,
        )
        expect_same_list(mine, units, _("{name}'s dead units").format(name=name), hint=2)


# ---------------------------------------------------------------- 09.3


def reference_flow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    twin = copy.deepcopy(model)
    named = [(n, p) for n, p in twin.named_parameters() if p.requires_grad and p.dim() >= 2]
    grads = torch.autograd.grad(
        F.cross_entropy(twin(x), y), [p for _, p in named], allow_unused=True
    )
    return {
        n: 0.0 if g is None else float(g.abs().mean())
        for (n, _), g in zip(named, grads, strict=True)
    }


def same_gradient_flow(got, inputs, files) -> None:
    left_as_it_was(inputs, files, "gradient_flow", hint=2)
    want = reference_flow(*inputs.args)
    expect(
        isinstance(got, dict),
        _("return a dict of weight name -> mean |grad|, not {got}.").format(got=show(got)),
    )
    extra = sorted(set(map(str, got)) - set(want))
    expect(
        not extra,
        _("{names} should not be there: only weights (dim() >= 2) that require grad.").format(
            names=show(extra[:3])
        ),
        hint=1,
    )
    what = _("weight names (in named_parameters order)")
    expect_same_list(list(got), list(want), what, hint=1)
    for name, value in want.items():
        what = _("mean |grad| of {name}").format(name=name)
        expect_close(got[name], value, what, rtol=1e-4, atol=1e-9, hint=2)


# ---------------------------------------------------------------- 09.4


def reference_failing(model: nn.Module, shape: tuple[int, ...]) -> str | None:
    """Run a meta twin with pre-hooks (push) and hooks (pop); the top of the stack failed."""
    twin = copy.deepcopy(model).to("meta")
    stack: list[str] = []

    def finished(_module, _args, _output) -> None:  # a hook that returned a value would
        stack.pop()  # replace the module's output

    for name, module in twin.named_modules():
        module.register_forward_pre_hook(lambda m, a, name=name: stack.append(name))
        module.register_forward_hook(finished)
    try:
        twin(torch.empty(shape, device="meta"))
    except Exception:  # noqa: BLE001 - the failure is the point
        return stack[-1] if stack else ""
    return None


def same_failing_layer(got, inputs, files) -> None:
    left_as_it_was(inputs, files, "failing_layer", hint=1)
    want = reference_failing(*inputs.args)
    if want is None:
        expect(
            got is None,
            _("this model runs at this shape: return None, not {got}.").format(got=show(got)),
            3,
        )
        return
    expect(
        isinstance(got, str),
        _("return the module's name (a str), not {got}.").format(got=show(got)),
        hint=1,
    )
    if want.startswith(got) and got != want:
        expect(
            False,
            _(
                "{got!r} contains the failing module; the innermost one that was running is "
                "{want!r}."
            ).format(got=got, want=want),
            hint=2,
        )
    expect(
        got == want,
        _("the forward pass fails in {want!r}, not in {got!r}.").format(want=want, got=got),
        hint=2,
    )


CASES = [
    Case(
        "09.1", "an MLP with three dead units", partial(model_and_batch, "mlp"), same_zero_fractions
    ),
    Case(
        "09.1",
        "a ReLU called twice, with an in-place add after it",
        partial(model_and_batch, "twice"),
        same_zero_fractions,
        hint=2,
    ),
    Case("09.2", "an MLP with three dead units", partial(model_and_batch, "mlp"), same_dead_units),
    Case(
        "09.1",
        "no hook left, also after a batch the model refuses",
        partial(watched, "relu_zero_fractions", "bad_batch", "cnn"),
        same_zero_fractions,
        hint=1,
    ),
    Case(
        "09.2",
        "a ReLU called twice: dead in one call is not dead",
        partial(model_and_batch, "twice"),
        same_dead_units,
        hint=2,
    ),
    Case(
        "09.2",
        "a unit that fires for one sample only",
        partial(model_and_batch, "one_sample"),
        same_dead_units,
        hint=2,
    ),
    Case(
        "09.3",
        "an MLP with dropout (eval mode) and .grad already set",
        partial(loss_case, "mlp"),
        same_gradient_flow,
    ),
    Case(
        "09.3",
        "a CNN with a frozen first conv; .grad left as it was",
        partial(watched, "gradient_flow", "loss", "cnn"),
        same_gradient_flow,
    ),
    Case(
        "09.4",
        "a linear layer that expects another size",
        partial(shape_case, "plain", (2, 3, 64, 64)),
        same_failing_layer,
        timeout=30.0,  # a process's first failing meta op loads torch's meta kernels (seconds)
    ),
    Case(
        "09.4",
        "the caller's model keeps its weights",
        partial(watched, "failing_layer", "shape", "plain", (2, 3, 64, 64)),
        same_failing_layer,
        timeout=30.0,
    ),
    Case(
        "09.4",
        "a view in the model's own forward",
        partial(shape_case, "by_hand", (2, 3, 64, 64)),
        same_failing_layer,
        timeout=30.0,  # a process's first failing meta op loads torch's meta kernels (seconds)
    ),
    Case(
        "09.4",
        "the size it was made for",
        partial(shape_case, "plain", (2, 3, 32, 32)),
        same_failing_layer,
        timeout=30.0,  # a process's first failing meta op loads torch's meta kernels (seconds)
    ),
]
