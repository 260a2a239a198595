"""Lesson 02's visible checks: each exercise against torchvision, scikit-learn, pandas and torch.

``lessonlib check 02``, ``pytest`` and ``lessonlib grade`` all run these cases. Builders make
seeded inputs (they run where your function is called, and again where the judge runs);
judges compare your answer with the reference, never with a solution.

What a return value cannot show (an input changed in place, hooks left on a model, an error
that should be raised) is seen by a probe (``lessonlib.classroom.cases.probed``).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix
from torch import nn
from torchvision import transforms
from torchvision.models.feature_extraction import create_feature_extractor
from torchvision.utils import make_grid

from lessonlib.classroom.cases import (
    Case,
    Inputs,
    Mismatch,
    expect,
    expect_close,
    keeps_input,
    later,
    outcome,
    probe_then,
    probed,
    show,
)
from lessonlib.classroom.references.small_models import seeded_input
from lessonlib.messages import N_, _
from lessonlib.models import small_cnn

MEAN, STD = [0.45, 0.5, 0.55], [0.2, 0.25, 0.3]
LAYERS = ["features.2", "features.6", "classifier.1"]

# ---------------------------------------------------------------- 02.1


def original_images(kind: str) -> tuple[torch.Tensor, list, list]:
    """The images before Normalize, with the mean and std Normalize used."""
    gen = torch.Generator().manual_seed({"rgb": 0, "outside": 1, "gray": 2, "float64": 0}[kind])
    if kind == "rgb":
        return torch.rand(4, 3, 8, 8, generator=gen), MEAN, STD
    if kind == "outside":  # one image, partly outside [0, 1]
        return torch.rand(3, 5, 7, generator=gen) * 2 - 0.5, MEAN, STD
    if kind == "gray":
        return torch.rand(6, 1, 8, 8, generator=gen), [0.3], [0.4]
    images = torch.rand(2, 3, 4, 4, dtype=torch.float64, generator=gen)
    return images, [0.1, 0.2, 0.3], [0.9, 0.8, 0.7]


def normalized_images(kind: str, watch: bool = False) -> Inputs:
    """(images through torchvision's Normalize, mean, std)."""
    images, mean, std = original_images(kind)
    inputs = Inputs(transforms.Normalize(mean, std)(images), mean, std)
    return (
        probed(inputs, "unnormalize", keeps_input("unnormalize", inputs.args, {}, 3))
        if watch
        else inputs
    )


def unnormalized(got, inputs, files, kind: str) -> None:
    images = original_images(kind)[0]
    expect(isinstance(got, torch.Tensor), _("return a tensor, not {got}.").format(got=show(got)), 3)
    expect(
        got.shape == images.shape,
        _("expected shape {want}, got {got}.").format(
            want=tuple(images.shape), got=tuple(got.shape)
        ),
        2,
    )
    expect(
        got.dtype == images.dtype,
        _("return {want}, as given, not {got}.").format(want=images.dtype, got=got.dtype),
        3,
    )
    if torch.allclose(got.double(), images.double(), atol=1e-5) and images.min() < 0:
        raise Mismatch(_("the values are right but not clipped to [0, 1]: clamp them."), 3)
    expect_close(got, images.clamp(0, 1), _("the images before Normalize"), hint=1)


# ---------------------------------------------------------------- 02.2


def label_pairs(kind: str) -> Inputs:
    """(y_true, y_pred, n_classes[, normalize=True]) as lists, tensors or arrays."""
    rng = [np.random.default_rng(s) for s in range(4)]
    if kind == "lists":
        return Inputs(rng[0].integers(0, 5, 300).tolist(), rng[1].integers(0, 5, 300).tolist(), 5)
    if kind == "tensors":  # class 3 occurs nowhere
        return Inputs(
            torch.tensor([0, 0, 1, 2, 2, 2, 1, 0]), torch.tensor([0, 1, 1, 2, 0, 2, 1, 0]), 4
        )
    if kind == "one class":
        return Inputs([2] * 5, [2, 2, 0, 2, 2], 3, normalize=True)
    y_true = np.concatenate([rng[2].integers(0, 3, 120), [4, 4]])  # class 3 never true
    return Inputs(y_true, np.concatenate([rng[3].integers(0, 5, 120), [4, 0]]), 5, normalize=True)


def same_confusion(got, inputs, files) -> None:
    (y_true, y_pred, n), normalize = inputs.args, inputs.kwargs.get("normalize", False)
    how = "true" if normalize else None
    want = sklearn_confusion_matrix(
        np.asarray(y_true), np.asarray(y_pred), labels=range(n), normalize=how
    )
    try:
        mine = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise Mismatch(
            _("return an ({n}, {n}) array, not {got}.").format(n=n, got=show(got)), 1
        ) from None
    expect(
        mine.shape == want.shape,
        _("expected shape {want}, got {got}.").format(want=want.shape, got=mine.shape),
        hint=1,
    )
    kind = np.asarray(got).dtype
    expect(
        normalize or np.issubdtype(kind, np.integer),
        _("counts are ints, not {dtype}.").format(dtype=kind),
        1,
    )
    if np.isnan(mine).any():
        row = int(np.argwhere(np.isnan(mine))[0][0])
        raise Mismatch(
            _("row {row} has no samples: leave it at zeros, do not divide by 0.").format(row=row), 3
        )
    if not np.allclose(mine, want) and np.allclose(mine, want.T):
        raise Mismatch(
            _("your matrix is transposed: rows are true classes, columns predictions."), 1
        )
    bad = np.argwhere(~np.isclose(mine, want, rtol=1e-5, atol=1e-8))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        raise Mismatch(
            _(
                "entry [{i}, {j}] (true {i}, predicted {j}): scikit-learn gives {want:.6g}, "
                "you {got:.6g}."
            ).format(i=i, j=j, want=want[i, j], got=mine[i, j]),
            3 if normalize else 2,
        )


# ---------------------------------------------------------------- 02.3


def seeded_cnn() -> nn.Module:
    return small_cnn(seed=0, width=4).eval()


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _left(model: nn.Module, ours: int = 0):
    left = hook_count(model) - ours
    if left:
        message = N_("{left} of your hooks stayed on the model: remove them in a finally block.")
        return later(message, left=left), 3
    return None


def _detached(f):
    """Weights that require grad: the outputs must come back detached, built without a graph."""
    model, grad_mode = seeded_cnn(), []
    handle = model.register_forward_hook(lambda *_: grad_mode.append(torch.is_grad_enabled()))
    got = f(model, seeded_input(1, 3, 32, 32), list(LAYERS))
    handle.remove()
    attached = [n for n, t in got.items() if isinstance(t, torch.Tensor) and t.requires_grad]
    if attached:
        message = N_("{names} came back with a backward graph: store output.detach().")
        return later(message, names=str(attached)), 2
    if any(grad_mode):
        message = N_("the forward pass built a backward graph: run it under torch.no_grad().")
        return later(message), 3
    return _left(model)


def _own_hook_kept(f):
    model, calls = seeded_cnn(), []
    model.features[2].register_forward_hook(lambda *_: calls.append(1))
    f(model, seeded_input(1, 3, 32, 32), list(LAYERS))
    if len(model.features[2]._forward_hooks) != 1 or len(calls) != 1:
        kept = later(N_("there")) if model.features[2]._forward_hooks else later(N_("gone"))
        message = N_("the model's own hook must stay and run once: it is {kept}, ran {runs}x.")
        return later(message, kept=kept, runs=len(calls)), 3
    return _left(model, ours=1)


def _broken_model() -> tuple[nn.Module, torch.Tensor]:
    """A model whose Linear does not fit: its forward pass raises a RuntimeError."""
    layers = [nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(10, 2)]
    return nn.Sequential(*layers), seeded_input(1, 3, 8, 8)


def _failing_forward(f):
    model, x = _broken_model()
    did = outcome(f, (model, x, ["1"]), RuntimeError)
    if did:
        message = N_("when the forward pass raises RuntimeError, let it through; yours {did}.")
        return later(message, did=did), 3
    return _left(model)


def _unknown_name(f):
    (model, x), ran = _broken_model(), []
    model.register_forward_pre_hook(lambda *_: ran.append(1))
    did = outcome(f, (model, x, ["1", "nope"]), KeyError)
    if did or ran or hook_count(model) > 1:
        why = (
            later(N_("it {did}"), did=did)
            if did
            else later(N_("look every name up before registering or running anything"))
        )
        message = N_("an unknown layer name must raise KeyError before anything runs: {why}.")
        return later(message, why=why), 2
    return None


PROBES_023 = {"detached": _detached, "own hook": _own_hook_kept}
PROBES_023.update({"failing": _failing_forward, "unknown": _unknown_name})


def cnn_and_layers(probe: str = "", n: int = 1) -> Inputs:
    """(a small CNN, a seeded batch, three layer names), maybe with a probe of PROBES_023."""
    inputs = Inputs(seeded_cnn(), seeded_input(n, 3, 32, 32), list(LAYERS))
    return probed(inputs, "capture_activations", PROBES_023[probe]) if probe else inputs


def nested_and_layers() -> Inputs:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 6), nn.Sequential(nn.Tanh(), nn.Linear(6, 2)))
        return Inputs(model, torch.randn(3, 4), ["1.0", "1"])


def captured(got, inputs, files) -> None:
    model, x, names = inputs.args
    expect(
        isinstance(got, dict),
        _("return a dict of layer name -> tensor, not {got}.").format(got=show(got)),
        2,
    )
    expect(
        sorted(got) == sorted(names),
        _("expected the keys {want}, got {got}.").format(want=sorted(names), got=sorted(got)),
        2,
    )
    with torch.no_grad():
        want = create_feature_extractor(model, return_nodes={n: n for n in names})(x)
    for name in names:
        expect_close(got[name], want[name], _("the output of {name}").format(name=name), hint=2)


# ---------------------------------------------------------------- 02.4


def filters(kind: str, probe: str = "", **settings) -> Inputs:
    """(conv filters (out, 1 or 3, kh, kw), grid settings), maybe probed."""
    if kind == "rgb":
        weight = seeded_input(10, 3, 5, 5, seed=4)
    elif kind == "gray":  # filter 4 is constant
        weight = seeded_input(9, 1, 3, 3, seed=5).index_fill_(0, torch.tensor([4]), 0.25)
    else:  # "one row"
        weight = torch.randn(8, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    inputs = Inputs(weight, **settings)
    if probe == "kept":
        return probed(inputs, "filter_grid", keeps_input("filter_grid", (weight,), settings, 1))
    return probed(inputs, "filter_grid", _refuses_16_channels) if probe else inputs


def _refuses_16_channels(f):
    did = outcome(f, (seeded_input(4, 16, 3, 3),), ValueError)
    message = N_("16 input channels cannot be shown: raise ValueError; yours {did}.")
    return (later(message, did=did), 2) if did else None


def filter_image(got, inputs, files) -> None:
    (weight,), settings = inputs.args, {"nrow": 8, "padding": 1, "pad_value": 1.0, **inputs.kwargs}
    want = make_grid(weight, normalize=True, scale_each=True, **settings).permute(1, 2, 0)
    expect(
        isinstance(got, torch.Tensor),
        _("return an (H, W, 3) tensor, not {got}.").format(got=show(got)),
        3,
    )
    expect(
        got.shape == want.shape,
        _(
            "make_grid lays these filters out as {want} (H, W, 3), you "
            "{got}: mind nrow, padding and channels last."
        ).format(want=tuple(want.shape), got=tuple(got.shape)),
        hint=2,
    )
    got = got.float()
    bad = ~torch.isclose(got, want, rtol=1e-5, atol=1e-5)
    if bad.any():
        r, c, ch = (int(i) for i in bad.nonzero()[0])
        layout = {k: settings[k] for k in ("nrow", "padding")}
        padding = make_grid(torch.zeros_like(weight), **layout, pad_value=1.0)[0, r, c] == 1
        where = _("the padding") if padding else _("a filter")
        message = (
            _(
                "pixel [{r}, {c}, {ch}] (in {where}): make_grid gives {want:.6g}, you {got:.6g} "
                "(a constant filter becomes 0)."
            )
            if got[r, c, ch].isnan()
            else _(
                "pixel [{r}, {c}, {ch}] (in {where}): make_grid gives {want:.6g}, you {got:.6g}."
            )
        )
        raise Mismatch(
            message.format(
                r=r, c=c, ch=ch, where=where, want=float(want[r, c, ch]), got=float(got[r, c, ch])
            ),
            2 if padding else 1,
        )


# ---------------------------------------------------------------- 02.5


def noisy_curve(weight: float, n: int = 120) -> Inputs:
    values = np.exp(-np.linspace(0, 4, n)) + 0.1 * np.random.default_rng(7).standard_normal(n)
    return Inputs(values.tolist() if n > 1 else [3.5], weight)


def smoothed(got, inputs, files) -> None:
    values, weight = inputs.args
    want = pd.Series(values).ewm(alpha=1 - weight, adjust=True).mean().to_numpy()
    expect(
        isinstance(got, list | tuple),
        _("return a list of floats, not {got}.").format(got=show(got)),
        hint=3,
    )
    expect(
        len(got) == len(values),
        _("return {want} values, one per input, not {got}.").format(want=len(values), got=len(got)),
        3,
    )
    biased = pd.Series(values).ewm(alpha=1 - weight, adjust=False).mean().to_numpy()
    biased = biased - weight ** np.arange(1, len(values) + 1) * values[0]  # started at 0
    if weight > 0 and np.allclose(np.asarray(got, dtype=float), biased, rtol=1e-5):
        raise Mismatch(_("your first values are pulled towards 0: divide by 1 - weight**k."), 2)
    expect_close(got, want, _("the smoothed curve"), hint=3)


# ---------------------------------------------------------------- 02.6


def pca_features(kind: str) -> Inputs:
    if kind == "rotated":  # 200 x 6, shifted by 4, variances mixed by a rotation
        gen = torch.Generator().manual_seed(8)
        features = torch.randn(200, 6, generator=gen) * torch.tensor([5.0, 0.5, 3.0, 1.0, 0.2, 0.1])
        return Inputs(features @ torch.linalg.qr(torch.randn(6, 6, generator=gen))[0] + 4.0)
    gen = torch.Generator().manual_seed(2)  # "float32"
    return Inputs(torch.randn(50, 3, generator=gen) * torch.tensor([3.0, 1.0, 0.1]))


def principal_coordinates(got, inputs, files) -> None:
    features = inputs.args[0].double().numpy()
    want = PCA(n_components=2).fit_transform(features)
    expect(
        isinstance(got, torch.Tensor),
        _("return an (N, 2) tensor, not {got}.").format(got=show(got)),
        hint=3,
    )
    mine = got.double().numpy()
    expect(
        mine.shape == want.shape,
        _("expected shape {want}, got {got}.").format(want=want.shape, got=mine.shape),
        hint=3,
    )
    uncentred = features @ np.linalg.svd(features, full_matrices=False)[2][:2].T
    if np.allclose(np.abs(mine), np.abs(uncentred), rtol=1e-4, atol=1e-4):
        raise Mismatch(
            _("these are projections of uncentred features: subtract the mean first."), 2
        )
    if np.allclose(np.abs(mine[:, ::-1]), np.abs(want), rtol=1e-4, atol=1e-4):
        raise Mismatch(_("the two columns are swapped: largest variance first."), 2)
    for j in range(2):
        sign = np.sign(mine[:, j] @ want[:, j]) or 1.0
        what = _("component {k} (up to sign)").format(k=j + 1)
        expect_close(sign * mine[:, j], want[:, j], what, 1e-4, 1e-4, 3)


def _unnormalize(name: str, kind: str, watch: bool = False) -> Case:
    judge = partial(unnormalized, kind=kind)
    judge = partial(probe_then, judge=judge) if watch else judge
    return Case("02.1", name, partial(normalized_images, kind, watch), judge)


def _capture(name: str, probe: str) -> Case:
    return Case("02.3", name, partial(cnn_and_layers, probe), partial(probe_then, judge=captured))


CASES = [
    _unnormalize("an RGB batch", "rgb"),
    _unnormalize("the RGB batch, left as it was", "rgb", watch=True),
    _unnormalize("one image outside [0, 1]", "outside"),
    _unnormalize("grayscale digits", "gray"),
    Case(
        "02.2", "300 labels in 5 classes, as lists", partial(label_pairs, "lists"), same_confusion
    ),
    Case(
        "02.2", "tensors, a class nobody predicted", partial(label_pairs, "tensors"), same_confusion
    ),
    Case(
        "02.2", "normalized, one true class absent", partial(label_pairs, "absent"), same_confusion
    ),
    Case("02.3", "three layers of a small CNN", partial(cnn_and_layers, n=2), captured),
    _capture("outputs come back detached", "detached"),
    _capture("a model that already has a hook of its own", "own hook"),
    _capture("a forward pass that raises", "failing"),
    _capture("an unknown layer name", "unknown"),
    Case(
        "02.4",
        "ten RGB filters, nrow=4, padding=2, pad_value=0.3, left as they were",
        partial(filters, "rgb", "kept", nrow=4, padding=2, pad_value=0.3),
        partial(probe_then, judge=filter_image),
    ),
    Case(
        "02.4", "gray filters with a constant one, defaults", partial(filters, "gray"), filter_image
    ),
    Case(
        "02.4",
        "16 input channels",
        partial(filters, "rgb", "16"),
        partial(probe_then, judge=filter_image),
    ),
    *(
        Case("02.5", f"a noisy curve, weight {w}", partial(noisy_curve, w), smoothed)
        for w in (0.0, 0.6, 0.9, 0.99)
    ),
    Case(
        "02.6",
        "200 rotated, shifted 6-d features",
        partial(pca_features, "rotated"),
        principal_coordinates,
    ),
]
