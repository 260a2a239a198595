"""Train SmallCNN on the shapes set from scratch for several seeds; check the time/accuracy target.

Run: python benchmarks/bench_train.py [--seeds 0 1 2]. Data generation is not timed (it is cached
as .npz after the first run); the checkpoint cache is never used.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_ACCURACY = 0.95
TARGET_SECONDS = 15.0


def bench(seeds: list[int]) -> bool:
    """Train once per seed, print a line each and the worst case; True if the target holds."""
    import torch

    from lessonlib.data import shapes_splits
    from lessonlib.models import SHAPES_CNN_CONFIG, small_cnn, train_classifier

    cfg = SHAPES_CNN_CONFIG
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, config {cfg}")
    rows = []
    for seed in seeds:
        train_ds, test_ds = shapes_splits(cfg["n_train"], cfg["n_test"], 64, seed)
        model = small_cnn(seed, width=cfg["width"])
        keys = ("epochs", "lr", "batch_size", "schedule")
        result = train_classifier(model, train_ds, test_ds, seed=seed, **{k: cfg[k] for k in keys})
        rows.append((result.seconds, result.test_accuracy))
        print(f"seed {seed}: {result.seconds:5.1f} s, test accuracy {result.test_accuracy:.2%}")
    worst_s, worst_acc = max(s for s, _ in rows), min(a for _, a in rows)
    print(f"worst: {worst_s:5.1f} s, test accuracy {worst_acc:.2%}")
    print(f"target: >= {TARGET_ACCURACY:.0%} in <= {TARGET_SECONDS:.0f} s")
    ok = worst_acc >= TARGET_ACCURACY and worst_s <= TARGET_SECONDS
    print("PASS" if ok else "FAIL")
    if hasattr(os, "getloadavg"):
        print(f"load average at the end: {os.getloadavg()[0]:.2f} (timings assume an idle machine)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    return 0 if bench(parser.parse_args().seeds) else 1


if __name__ == "__main__":
    raise SystemExit(main())
