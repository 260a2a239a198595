"""Logging overhead of lesson 04's defaults, and the lesson's run time.

Target: a training step with scalar + histogram logging at the lesson's default interval
(the Trainer: scalars every 10 steps, weight and gradient histograms once per epoch)
costs at most 5 % more than the same step without logging. For contrast, "every step"
logs ``loss.item()`` at each step (the habit the interval replaces; on a GPU every
``.item()`` waits for the device).

Run: ``python benchmarks/bench_tensorboard.py`` (``--no-lesson`` skips timing
``lessonlib run 04``; ``--device cuda`` trains on a GPU). The loops run interleaved,
several times; the verdict uses the best-of time per step (least disturbed by other
programs on a shared machine), in CPU time on the CPU (this process's threads, the event
writer's included) and in wall time on a GPU.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.tensorboard import SummaryWriter

from lessonlib.data import SHAPES_MEAN, SHAPES_STD, shapes_splits
from lessonlib.models import SmallCNN
from lessonlib.tensorboard import Trainer

LOG_EVERY = 10  # the lesson's Trainer(log_every=10); histograms once per epoch
# plain: no logging. The Trainer three ways, to see where its cost goes: bookkeeping only
# (a writer that does nothing), scalars only, and its defaults (scalars + histograms).
MODES = ("plain", "trainer, no writer", "trainer, scalars", "trainer", "every step")


class NoWriter:
    """Accepts every SummaryWriter call and does nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def batches(device: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The lesson's data (1500 shapes, 48 px, batches of 32), already on the device."""
    train, _ = shapes_splits(n_train=1500, n_test=300, size=48)
    mean = torch.tensor(SHAPES_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(SHAPES_STD).view(1, 3, 1, 1)
    loader = DataLoader(TensorDataset((train.images - mean) / std, train.labels), batch_size=32)
    return [(x.to(device), y.to(device)) for x, y in loader]


def run(mode: str, data: list, epochs: int, device: str, logdir: Path) -> tuple[float, float]:
    """(wall, CPU) seconds per training step for one way of logging."""
    torch.manual_seed(0)
    model = SmallCNN().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    writer = SummaryWriter(logdir) if mode not in ("plain", "trainer, no writer") else None
    trainer = None
    if mode.startswith("trainer"):
        histograms = None if mode == "trainer, scalars" else "weights"
        log_to = NoWriter() if writer is None else writer
        trainer = Trainer(model, opt, log_to, log_every=LOG_EVERY, histograms=histograms)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    t0, c0, steps = time.perf_counter(), time.process_time(), 0
    if trainer is not None:
        trainer.fit(data, epochs)
        steps = trainer.step
    else:
        for epoch in range(1, epochs + 1):
            for x, y in data:
                loss = nn.functional.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                steps += 1
                if writer is not None:  # every step
                    writer.add_scalar("train/loss", loss.item(), steps)
            if writer is not None:
                for name, p in model.named_parameters():
                    if p.dim() > 1:
                        writer.add_histogram(f"weights/{name}", p, epoch, bins=64)
                        writer.add_histogram(f"grads/{name}", p.grad, epoch, bins=64)
    if writer is not None:
        writer.flush()  # the records are on disk: their cost is counted
    sync()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if writer is not None:
        writer.close()
    return wall / steps, cpu / steps


def unit_costs(logdir: Path) -> tuple[float, float]:
    """CPU µs per add_scalar, CPU ms per histogram round of the Trainer on SmallCNN."""
    model = SmallCNN()
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    with SummaryWriter(logdir) as writer:
        c0 = time.process_time()
        for i in range(2000):
            writer.add_scalar("s", float(i), i)
        writer.flush()
        scalar_us = (time.process_time() - c0) / 2000 * 1e6
        trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), writer)
        c0 = time.process_time()
        for epoch in range(5):
            trainer.log_histograms(epoch)
        writer.flush()
        hist_ms = (time.process_time() - c0) / 5 * 1e3
    return scalar_us, hist_ms


def lesson_seconds() -> float:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "lessonlib", "run", "04"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:])
        raise SystemExit("lessonlib run 04 failed")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the lesson uses 1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--no-lesson", action="store_true", help="skip timing lessonlib run 04")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = batches(args.device)
    times: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory(prefix="bench-tb-") as tmp:
        run("plain", data, 1, args.device, Path(tmp))  # warm-up: allocator, kernels
        for r in range(args.repeats):  # interleaved, so load changes hit every mode alike
            for mode in MODES:
                times[mode].append(
                    run(mode, data, args.epochs, args.device, Path(tmp) / f"{r}{mode}")
                )
        scalar_us, hist_ms = unit_costs(Path(tmp) / "units")
    gpu = args.device.startswith("cuda")
    where = torch.cuda.get_device_name() if gpu else f"CPU, {args.threads} torch thread(s)"
    print(f"{where}; {len(data)} steps per epoch, {args.epochs} epochs x {args.repeats} repeats")
    print(f"unit costs (CPU): add_scalar {scalar_us:.0f} µs, Trainer histograms {hist_ms:.1f} ms")
    base = {k: min(t[k] for t in times["plain"]) for k in (0, 1)}
    for mode in MODES:
        wall = [t[0] * 1e3 for t in times[mode]]
        cpu = [t[1] * 1e3 for t in times[mode]]
        print(
            f"{mode:18s}: wall ms/step best {min(wall):6.2f} median {statistics.median(wall):6.2f}"
            f" | CPU ms/step best {min(cpu):6.2f} median {statistics.median(cpu):6.2f}"
            f" | best vs plain: wall x{min(wall) / base[0] / 1e3:.3f},"
            f" CPU x{min(cpu) / base[1] / 1e3:.3f}"
        )
    k = 0 if gpu else 1
    ratio = min(t[k] for t in times["trainer"]) / base[k]
    verdict = "ok" if ratio <= 1.05 else "over the target"
    kind = ("wall", "CPU")[k]
    print(f"target: Trainer logging adds <= 5 % per step; {kind} ratio {ratio:.3f} -> {verdict}")
    if not args.no_lesson:
        print(f"lessonlib run 04: {lesson_seconds():.1f} s wall (target <= 60 s on 2 CPUs)")


if __name__ == "__main__":
    main()
