"""Speed of lessons 05 and 06: Visdom start-up offline, lesson run times, ONNX export times.

Run: .venv/bin/python benchmarks/bench_visdom_onnx.py [--skip-lessons]
Targets (issue 6): the Visdom server answers within 5 s offline; each lesson runs in <= 30 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path


def visdom_startup(runs: int = 3) -> list[float]:
    from lessonlib.visdom import missing_ui_assets, start_visdom

    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            t0 = time.perf_counter()
            with start_visdom(env_path=Path(tmp) / f"envs{i}", quiet=True):
                times.append(time.perf_counter() - t0)
    print(
        f"visdom server answers after (s): {', '.join(f'{t:.2f}' for t in times)}; "
        f"median {statistics.median(times):.2f} s (target <= 5 s); UI assets "
        f"{'installed' if not missing_ui_assets() else 'MISSING'}"
    )
    return times


def lesson_runs() -> None:
    from lessonlib.course.catalog import find_lesson
    from lessonlib.course.runner import run_lesson

    for lesson_id in ("05", "06"):
        result = run_lesson(find_lesson(lesson_id), capture=True)
        status = "ok" if result.ok else f"FAILED (see {result.log})"
        print(f"lesson {lesson_id}: {result.seconds:.1f} s {status} (target <= 30 s)")


def onnx_exports() -> None:
    import torch
    from torch.export import Dim
    from torchvision.models import resnet18

    from lessonlib.models import small_cnn

    warnings.simplefilter("ignore")
    batch = Dim("batch", min=1, max=4096)
    cases = [
        ("small CNN", small_cnn(seed=0).eval(), torch.randn(2, 3, 64, 64)),
        ("resnet18", resnet18(weights=None).eval(), torch.randn(2, 3, 224, 224)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, example in cases:
            row = {}
            for label, kwargs in (
                ("dynamo", dict(dynamo=True, verbose=False, dynamic_shapes={"x": {0: batch}})),
                (
                    "dynamo again",
                    dict(dynamo=True, verbose=False, dynamic_shapes={"x": {0: batch}}),
                ),
                ("legacy", dict(dynamo=False, dynamic_axes={"x": {0: "batch"}}, input_names=["x"])),
            ):
                t0 = time.perf_counter()
                torch.onnx.export(
                    model, (example,), os.path.join(tmp, f"{name}-{label}.onnx"), **kwargs
                )
                row[label] = time.perf_counter() - t0
            again, legacy = row["dynamo again"], row["legacy"]
            print(
                f"export {name:9}: dynamo {row['dynamo']:.2f} s, again {again:.2f} s, "
                f"legacy {legacy:.2f} s; dynamo/legacy {again / legacy:.1f}x"
            )
        print("(the very first dynamo export in a process also pays torch.onnx's lazy imports)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-lessons", action="store_true", help="skip the two lesson runs")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} (a busy shared machine: pessimistic)")
    visdom_startup()
    onnx_exports()
    if not args.skip_lessons:
        lesson_runs()


if __name__ == "__main__":
    sys.exit(main())
