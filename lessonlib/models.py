"""The course's small models, a plain training loop and cached trained checkpoints."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from lessonlib.paths import build_dir

EpochCallback = Callable[[int, dict], None]


def device() -> torch.device:
    """The device to compute on: the first GPU when PyTorch sees one, else the CPU.

    Pick it once and move the model and each batch to it once (``model.to(dev)``,
    ``x.to(dev)``). A module has no ``.device`` attribute: ask one of its parameters,
    ``next(model.parameters()).device``.
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TinyMLP(nn.Module):
    """Linear -> ReLU -> Linear."""

    def __init__(self, in_features: int = 64, hidden: int = 32, n_classes: int = 10) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(x.flatten(1))))


def tiny_mlp(seed: int = 0, in_features: int = 8, hidden: int = 16, n_classes: int = 3) -> TinyMLP:
    """A TinyMLP whose weights depend only on ``seed`` (the global RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TinyMLP(in_features, hidden, n_classes)


class SmallCNN(nn.Module):
    """Three conv blocks (conv 3x3, BatchNorm, ReLU, MaxPool 2) and a global-pool linear head.

    Block widths are width, 2*width, 4*width; the first conv has stride ``first_stride`` so that
    64x64 images train in seconds on a laptop CPU. ``context_blocks`` > 0 drops the last
    max-pool and adds that many conv blocks (no pooling) at the last conv's resolution: the
    last layer then sees a wider context at the same 8x8 grid, which is what lesson 07 needs
    for heat maps that sit on the object rather than on its outline.
    """

    def __init__(
        self,
        in_channels: int = 3,
        n_classes: int = 5,
        width: int = 8,
        first_stride: int = 2,
        context_blocks: int = 0,
    ) -> None:
        super().__init__()
        widths = (width, 2 * width, 4 * width)
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, c_out in enumerate(widths):
            stride = first_stride if i == 0 else 1
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=False),
            ]
            if i < len(widths) - 1 or not context_blocks:
                layers.append(nn.MaxPool2d(2))
            c_in = c_out
        for _ in range(context_blocks):
            layers += [nn.Conv2d(c_in, c_in, 3, padding=1), nn.BatchNorm2d(c_in), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, n_classes)
        )
        last_conv = max(i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d))
        self.target_layer_name = f"features.{last_conv}"  # the last Conv2d, for Grad-CAM

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def small_cnn(seed: int = 0, **kwargs) -> SmallCNN:
    """A SmallCNN whose weights depend only on ``seed`` (the global RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SmallCNN(**kwargs)


# --------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    """What train_classifier returns: per-epoch history, final test accuracy, seconds taken."""

    history: dict[str, list[float]] = field(default_factory=dict)
    test_accuracy: float = 0.0
    seconds: float = 0.0
    from_cache: bool = False
    config: dict = field(default_factory=dict)


def _as_tensors(ds: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """All (inputs, labels) of a small in-memory data set, stacked."""
    items = [ds[i] for i in range(len(ds))]
    xs = torch.stack([x for x, _ in items])
    return xs, torch.as_tensor([y for _, y in items], dtype=torch.int64)


def evaluate(model: nn.Module, ds: Dataset, batch_size: int = 256) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``model`` on ``ds`` (eval mode, no grad)."""
    x, y = _as_tensors(ds)
    return _evaluate_tensors(model, x, y, batch_size)


def _evaluate_tensors(model: nn.Module, x, y, batch_size: int) -> tuple[float, float]:
    """Loss and accuracy over stacked tensors, restoring the model's train/eval mode."""
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            logits = model(x[i : i + batch_size])
            target = y[i : i + batch_size]
            loss_sum += nn.functional.cross_entropy(logits, target, reduction="sum").item()
            correct += (logits.argmax(1) == target).sum().item()
    model.train(was_training)
    return loss_sum / len(x), correct / len(x)


def train_classifier(
    model: nn.Module,
    train_ds: Dataset,
    test_ds: Dataset,
    epochs: int = 5,
    lr: float = 3e-3,
    batch_size: int = 64,
    seed: int = 0,
    log_every: int | None = None,
    on_epoch: EpochCallback | None = None,
    schedule: str | None = None,
    threads: int | None = 1,
) -> TrainResult:
    """Train with Adam and cross-entropy; record train/val loss and accuracy per epoch.

    ``threads`` caps torch's intra-op threads while training (None: leave them). The course's
    models are so small that a second thread barely helps (3.5 vs 3.7 s for SmallCNN on a
    quiet 2-CPU machine) and costs 3x when another process wants the CPU (18 vs 5 s).
    """
    with _intra_op_threads(threads):
        return _train(
            model, train_ds, test_ds, epochs, lr, batch_size, seed, log_every, on_epoch, schedule
        )


@contextlib.contextmanager
def _intra_op_threads(threads: int | None):
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(model, train_ds, test_ds, epochs, lr, batch_size, seed, log_every, on_epoch, schedule):
    start = time.perf_counter()
    x_test, y_test = _as_tensors(test_ds)  # stacked once, evaluated after every epoch
    shuffle_rng = torch.Generator().manual_seed(seed)
    loader = DataLoader(train_ds, batch_size=batch_size, shuffle=True, generator=shuffle_rng)
    history: dict[str, list[float]] = {
        k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc")
    }
    images = x_test.dim() == 4
    if images:  # channels-last convolutions are ~25 % faster on CPU
        model.to(memory_format=torch.channels_last)
        x_test = x_test.contiguous(memory_format=torch.channels_last)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # for whatever randomness the model itself uses
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = _scheduler(schedule, opt, lr, epochs * len(loader))
        for epoch in range(1, epochs + 1):
            train_loss, train_acc = _train_epoch(
                model, loader, opt, sched, epoch, log_every, images
            )
            val_loss, val_acc = _evaluate_tensors(model, x_test, y_test, 256)
            metrics = {
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": val_loss,
                "val_acc": val_acc,
            }
            for key, value in metrics.items():
                history[key].append(value)
            if on_epoch is not None:
                on_epoch(epoch, metrics)
    if images:
        model.to(memory_format=torch.contiguous_format)
    model.eval()
    test_acc = (
        history["val_acc"][-1] if epochs else _evaluate_tensors(model, x_test, y_test, 256)[1]
    )
    return TrainResult(history, test_acc, time.perf_counter() - start)


def _scheduler(name: str | None, opt, lr: float, total_steps: int):
    """A per-step learning-rate scheduler: None (constant), "cosine" or "onecycle"."""
    if name is None:
        return None
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, total_steps)
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=total_steps)
    raise ValueError(f"unknown schedule {name!r}; use None, 'cosine' or 'onecycle'")


def _train_epoch(model, loader, opt, sched, epoch: int, log_every, channels_last: bool):
    """One pass over ``loader``; returns mean loss and accuracy over its samples."""
    model.train()
    loss_sum, correct, seen = 0.0, 0, 0
    for step, (x, y) in enumerate(loader, 1):
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
        if log_every and step % log_every == 0:
            print(f"epoch {epoch} step {step}: loss {loss.item():.4f}")
    return loss_sum / seen, correct / seen


# --------------------------------------------------------------------------- cached models

# Tuned so that training takes ~7 s on 2 CPUs and reaches ~99 % test accuracy (see benchmarks/).
SHAPES_CNN_CONFIG = {
    "width": 8,
    "context_blocks": 0,
    "threads": 1,  # torch intra-op threads while training (see train_classifier)
    "epochs": 6,
    "lr": 1e-2,
    "batch_size": 32,
    "schedule": "onecycle",
    "n_train": 3000,
    "n_test": 600,
}
DIGITS_MLP_CONFIG = {
    "hidden": 32,
    "threads": 1,
    "epochs": 10,
    "lr": 1e-2,
    "batch_size": 32,
    "schedule": "onecycle",
}


def _source_digest() -> str:
    """Hash of models.py and data.py, so cached checkpoints follow code changes."""
    from lessonlib import data

    digest = hashlib.sha256()
    for path in (Path(__file__), Path(data.__file__)):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def checkpoint_path(kind: str, config: dict) -> Path:
    """Where the checkpoint of ``kind`` trained with ``config`` is cached."""
    blob = json.dumps(config, sort_keys=True) + _source_digest()
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return build_dir("cache", "models") / f"{kind}_{key}.pt"


def _load_checkpoint(path: Path, model: nn.Module) -> TrainResult | None:
    """The TrainResult stored at ``path`` (weights loaded into ``model``), or None if unusable."""
    if not path.exists():
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(ckpt["state_dict"])
    except Exception:  # a damaged or stale file (of any kind of damage) is simply retrained
        return None
    return TrainResult(
        ckpt["history"], ckpt["test_accuracy"], ckpt["seconds"], True, ckpt["config"]
    )


def _save_checkpoint(path: Path, model: nn.Module, result: TrainResult) -> None:
    """Write the checkpoint atomically, so a concurrent reader never sees half a file."""
    ckpt = {
        "state_dict": model.state_dict(),
        "history": result.history,
        "test_accuracy": result.test_accuracy,
        "seconds": result.seconds,
        "config": result.config,
    }
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


def _check_overrides(overrides: dict, defaults: dict) -> None:
    """Reject misspelt configuration keys instead of caching them silently."""
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise TypeError(f"unknown training option(s) {unknown}; known: {sorted(defaults)}")


def _cached_training(
    kind: str, config: dict, make_model: Callable[[], nn.Module], splits
) -> tuple[nn.Module, TrainResult]:
    """Load ``kind`` trained with ``config`` from the cache, or train it and cache it."""
    path = checkpoint_path(kind, config)
    model = make_model()
    result = _load_checkpoint(path, model)
    if result is None:
        model = make_model()  # a failed load may have left some weights overwritten
        train_ds, test_ds = splits()
        keys = ("epochs", "lr", "batch_size", "seed", "schedule", "threads")
        result = train_classifier(model, train_ds, test_ds, **{k: config[k] for k in keys})
        result.config = dict(config)
        _save_checkpoint(path, model, result)
    model.eval()
    return model, result


def trained_shapes_cnn(
    epochs: int = SHAPES_CNN_CONFIG["epochs"],
    seed: int = 0,
    size: int = 64,
    **overrides,
) -> tuple[SmallCNN, TrainResult]:
    """SmallCNN trained on shapes_splits() (raw [0,1] images, not normalised), cached; eval mode."""
    from lessonlib.data import shapes_splits

    _check_overrides(overrides, SHAPES_CNN_CONFIG)
    config = {**SHAPES_CNN_CONFIG, **overrides, "epochs": epochs, "seed": seed, "size": size}
    return _cached_training(
        "shapes_cnn",
        config,
        lambda: small_cnn(seed, width=config["width"], context_blocks=config["context_blocks"]),
        lambda: shapes_splits(config["n_train"], config["n_test"], size, seed),
    )


def trained_digits_mlp(
    epochs: int = DIGITS_MLP_CONFIG["epochs"], seed: int = 0, **overrides
) -> tuple[TinyMLP, TrainResult]:
    """TinyMLP(64, hidden, 10) trained on the flat digits split, cached; eval mode."""
    from lessonlib.data import digits_splits

    _check_overrides(overrides, DIGITS_MLP_CONFIG)
    config = {**DIGITS_MLP_CONFIG, **overrides, "epochs": epochs, "seed": seed}
    return _cached_training(
        "digits_mlp",
        config,
        lambda: tiny_mlp(seed, 64, config["hidden"], 10),
        lambda: digits_splits(seed=seed, flat=True),
    )
