"""Model summaries that cost nothing: torchinfo on the meta device, and one-sentence forward errors.

``torchinfo.summary(model, ..., device="meta")`` is fast but moves ``model`` itself to the
meta device, so its weights are gone. :func:`summary_on_meta` summarises a *meta twin*
instead: a deep copy whose parameters and buffers are empty meta tensors (no data is
copied), or a model built directly under ``torch.device("meta")`` from a constructor.
:func:`explain_forward_failure` runs a model with forward hooks and names the layer whose
forward raised, with the shapes it received, in one sentence.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from lessonlib.classroom.guard import refuse
from lessonlib.errors import LessonlibError

InputSize = Sequence[int] | Sequence[Sequence[int]]
ModelOrFactory = nn.Module | Callable[[], nn.Module]


class ForwardFailed(LessonlibError):
    """A model's forward pass fails on the input size it was asked to summarise."""


# --------------------------------------------------------------------------- meta twins


def meta_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose parameters and buffers are meta tensors (no data copied).

    ``copy.deepcopy`` consults its memo before copying an object, so pre-filling the memo
    with a meta tensor for every parameter and buffer replaces them instead of copying
    hundreds of megabytes. Tied weights stay tied; ``requires_grad`` flags are kept. Plain
    tensor attributes that are neither parameters nor buffers are copied as they are.
    """
    memo: dict[int, Any] = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        if id(tensor) in memo:
            continue
        twin = torch.empty_like(tensor, device="meta")
        if isinstance(tensor, nn.Parameter):
            twin = nn.Parameter(twin, requires_grad=tensor.requires_grad)
        memo[id(tensor)] = twin
    return copy.deepcopy(model, memo)


def meta_model(model: ModelOrFactory) -> nn.Module:
    """``model``'s meta twin, or ``model()`` built under ``torch.device("meta")`` if a factory."""
    if isinstance(model, nn.Module):
        return meta_copy(model)
    if callable(model):
        with torch.device("meta"):
            built = model()
        if not isinstance(built, nn.Module):
            raise TypeError(f"the factory returned {type(built).__name__}, not an nn.Module")
        return built
    kind = type(model).__name__
    raise TypeError(f"expected an nn.Module or a function that builds one, got {kind}")


def _sizes(input_size: InputSize) -> list[tuple[int, ...]]:
    """``input_size`` as a list of shapes: one tuple of ints, or a sequence of them."""
    if len(input_size) > 0 and all(isinstance(d, int) for d in input_size):
        return [tuple(input_size)]  # type: ignore[arg-type]
    sizes = [tuple(s) for s in input_size]  # type: ignore[union-attr]
    if not sizes or not all(all(isinstance(d, int) and d >= 0 for d in s) for s in sizes):
        raise ValueError(f"input_size must be a shape such as (8, 3, 224, 224), got {input_size!r}")
    return sizes


def example_inputs(
    input_size: InputSize, dtypes: Sequence[torch.dtype] | None = None, device: str = "meta"
) -> list[torch.Tensor]:
    """Empty tensors of the given shapes (float32 unless ``dtypes`` says otherwise)."""
    sizes = _sizes(input_size)
    dtypes = list(dtypes) if dtypes is not None else [torch.float32] * len(sizes)
    if len(dtypes) != len(sizes):
        raise ValueError(f"{len(sizes)} input sizes but {len(dtypes)} dtypes")
    if device == "meta":
        return [torch.empty(s, dtype=d, device="meta") for s, d in zip(sizes, dtypes, strict=True)]
    gen = torch.Generator().manual_seed(0)
    return [
        torch.rand(s, generator=gen).to(device=device, dtype=d)
        for s, d in zip(sizes, dtypes, strict=True)
    ]


def summary_on_meta(
    model: ModelOrFactory,
    input_size: InputSize,
    *,
    dtypes: Sequence[torch.dtype] | None = None,
    **summary_kwargs: Any,
):
    """torchinfo's ``summary`` of ``model`` at ``input_size``, run on a meta twin of it.

    ``model`` is an ``nn.Module`` (summarised through :func:`meta_copy`) or a function that
    builds one (built directly on the meta device: nothing is allocated or initialised).
    Other keyword arguments (``depth``, ``col_names``, ``row_settings``, ``verbose`` …) go
    to torchinfo. The inputs are created on the meta device too, so even a batch of 250
    224x224 images costs no memory. If the forward pass fails, :class:`ForwardFailed` says
    which layer failed on which shapes.
    """
    from torchinfo import summary

    for key in ("device", "input_data", "input_size"):
        if key in summary_kwargs:
            raise TypeError(f"summary_on_meta chooses {key!r} itself; pass input_size positionally")
    twin = meta_model(model)
    inputs = example_inputs(input_size, dtypes)
    try:
        return summary(twin, input_data=inputs, device="meta", **summary_kwargs)
    except RuntimeError as err:
        if not str(err).startswith("Failed to run torchinfo"):
            raise
        reason = explain_forward_failure(twin, input_size, dtypes=dtypes)
        if reason is None:  # the failure was torchinfo's own; keep its error
            raise
        name = type(twin).__name__
        shape = _shape_text(_shapes_of(inputs))
        reason = reason[0].lower() + reason[1:]
        message = f"{name} cannot be summarised at input size {shape}: {reason}"
        raise ForwardFailed(message) from None


def summary_text(model: ModelOrFactory, input_size: InputSize, **summary_kwargs: Any) -> str:
    """The summary table as a string (e.g. for a log file or TensorBoard's text tab)."""
    summary_kwargs.setdefault("verbose", 0)
    return str(summary_on_meta(model, input_size, **summary_kwargs))


# --------------------------------------------------------------------------- forward errors


def _shapes_of(value: Any) -> list[tuple[int, ...]]:
    """Shapes of the tensors in a (nested) module input or output."""
    if isinstance(value, torch.Tensor):
        return [tuple(value.shape)]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in _shapes_of(item)]
    return []


def _shape_text(shapes: list[tuple[int, ...]]) -> str:
    parts = [str(s) if len(s) != 1 else f"({s[0]},)" for s in shapes]
    return " and ".join(parts) if parts else "no tensor"


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    line = text[0] if text else type(err).__name__
    # Keep it one sentence: torch's messages sometimes chain several.
    return re.sub(r"\.\s+", "; ", re.sub(r"\s+", " ", line)).rstrip(".")


def _spatial_dims(module: nn.Module) -> int:
    """1, 2 or 3 for Conv/Pool layers named ``...1d``/``2d``/``3d``, else 0."""
    name = type(module).__name__
    return next((n for n in (1, 2, 3) if name.endswith(f"{n}d")), 0)


def _tuple(value: Any, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def _window_too_big(module: nn.Module, x: tuple[int, ...], n: int) -> str | None:
    """Say so if the (dilated) kernel of a conv or pooling layer exceeds the padded input."""
    padding = getattr(module, "padding", 0)
    if isinstance(padding, str) or len(x) < n:  # padding="same"/"valid" never fails this way
        return None
    kernel = _tuple(module.kernel_size, n)
    dilation = _tuple(getattr(module, "dilation", 1), n)
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    padded = [size + 2 * p for size, p in zip(x[-n:], _tuple(padding, n), strict=True)]
    if all(r <= size for r, size in zip(reach, padded, strict=True)):
        return None
    return (
        f"its {' x '.join(map(str, reach))} window does not fit in the "
        f"{' x '.join(map(str, padded))} (padded) input"
    )


def _layer_reason(module: nn.Module, shapes: list[tuple[int, ...]], err: BaseException) -> str:
    """Why ``module`` rejects these shapes, in words, for the layers whose contract is simple."""
    x = shapes[0] if shapes else None
    n = _spatial_dims(module)
    if x is not None and isinstance(module, nn.modules.conv._ConvNd) and n:
        if len(x) not in (n + 1, n + 2):
            return f"it expects a {n + 2}-D or {n + 1}-D input, got {len(x)}-D"
        if x[-n - 1] != module.in_channels:
            return f"it expects {module.in_channels} input channels, got {x[-n - 1]}"
        return _window_too_big(module, x, n) or _first_line(err)
    pools = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)
    if x is not None and isinstance(module, pools) and n:
        return _window_too_big(module, x, n) or _first_line(err)
    if x is not None and isinstance(module, nn.Linear) and x and x[-1] != module.in_features:
        return f"it expects the last dimension to be {module.in_features}, got {x[-1]}"
    if x is not None and isinstance(module, nn.modules.batchnorm._BatchNorm) and len(x) > 1:
        if x[1] != module.num_features:
            return f"it expects {module.num_features} channels in dimension 1, got {x[1]}"
    return _first_line(err)


def _is_meta_limitation(err: BaseException) -> bool:
    text = str(err).lower()
    return isinstance(err, NotImplementedError) or "meta" in text


def explain_forward_failure(
    model: nn.Module,
    input_size: InputSize,
    *,
    dtypes: Sequence[torch.dtype] | None = None,
    device: str = "meta",
) -> str | None:
    """One sentence naming the layer whose forward fails on ``input_size`` and the shapes it got.

    Every module gets a forward pre-hook (push the module and its input shapes) and a
    forward hook (pop it): when the forward raises, the top of the stack is the innermost
    module that started and never finished. The pass runs on a meta twin (free, and the
    caller's model is untouched); if the meta device itself cannot run the model it is run
    on the CPU under ``no_grad`` in eval mode. Returns ``None`` if the forward succeeds.
    All hooks are removed before returning.
    """
    refuse("09.4", "lessonlib.summaries.explain_forward_failure")
    on_meta = device == "meta"
    net = meta_model(model) if on_meta else model
    names = {id(m): name for name, m in net.named_modules()}
    stack: list[tuple[nn.Module, list[tuple[int, ...]]]] = []
    finished: list[tuple[nn.Module, list[tuple[int, ...]]]] = []

    def before(module: nn.Module, args: tuple, kwargs: dict) -> None:
        stack.append((module, _shapes_of(args) + _shapes_of(kwargs)))

    def after(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        while stack and stack[-1][0] is not module:  # a forward that swallowed an error
            stack.pop()
        if stack:
            stack.pop()
        finished.append((module, _shapes_of(output)))

    handles = []
    was_training = net.training
    error: BaseException | None = None
    try:
        for module in net.modules():
            handles.append(module.register_forward_pre_hook(before, with_kwargs=True))
            handles.append(module.register_forward_hook(after, with_kwargs=True))
        net.eval()
        with torch.no_grad():
            net(*example_inputs(input_size, dtypes, device))
    except Exception as err:  # noqa: BLE001 - any failure of the user's forward is the answer
        error = err
    finally:
        for handle in handles:
            handle.remove()
        net.train(was_training)
    if error is None:
        return None
    if on_meta and _is_meta_limitation(error) and not _on_meta(model):
        return explain_forward_failure(model, input_size, dtypes=dtypes, device="cpu")
    if not stack:
        return f"the forward pass fails before any layer runs: {_first_line(error)}."
    module, shapes = stack[-1]
    name = names.get(id(module), "")
    if name:
        label = f"Layer '{name}' ({_describe(module)})"
    else:
        label = f"The forward of {type(module).__name__} itself"
    if next(iter(module.children()), None) is None:  # a leaf layer
        reason = _layer_reason(module, shapes, error)
        return f"{label} fails on input of shape {_shape_text(shapes)}: {reason}."
    # The failing operation is in the container's own forward code (a view, a cat, an add).
    done = [(m, out) for m, out in finished if _is_inside(m, module)]
    after = ""
    if done:
        last, out = done[-1]
        after = f" after '{names.get(id(last), type(last).__name__)}' returned {_shape_text(out)}"
    where = f"(its input: {_shape_text(shapes)})"
    return f"{label} fails{after} {where}: {_first_line(error)}."


def _on_meta(model: nn.Module) -> bool:
    first = next(iter([*model.parameters(), *model.buffers()]), None)
    return first is not None and first.is_meta


def _is_inside(child: nn.Module, parent: nn.Module) -> bool:
    return child is not parent and any(m is child for m in parent.modules())


def _describe(module: nn.Module) -> str:
    extra = module.extra_repr()
    kind = type(module).__name__
    return f"{kind}({extra})" if extra and len(extra) <= 80 else kind
