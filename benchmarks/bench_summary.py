"""vgg16 summarised at batch 250 on the meta device: seconds, peak memory, the caller's weights.

Run: .venv/bin/python benchmarks/bench_summary.py [--cpu-250]

Each case runs in a fresh Python process, so that its memory and one-time costs are its own:

- meta: ``lessonlib.summaries.summary_on_meta(model, (250, 3, 224, 224))`` on a real vgg16
  (random weights on the CPU, 553 MB); the first call in the process is timed, the extra
  resident memory during the call is sampled, and every parameter and buffer is hashed
  before and after (device, storage address, bytes);
- cpu8: torchinfo's ``summary(model, input_size=(8, 3, 224, 224))`` on the CPU, the same
  table at a batch the machine can afford: the reference for the ratio and the per-image
  figures;
- naive: ``summary(model, input_size=(250, ...), device="meta")`` as usually written, to show
  that it is fast too but moves the caller's model to meta (its weights are gone);
- cpu250 (only with ``--cpu-250``): the real thing on the CPU, ~65 s and ~10 GB here.

Target (issue 4): meta ≤ 1 s and < 1 GB extra peak RSS, weights unchanged. Exit code 1 if
a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INPUT = (250, 3, 224, 224)
MEGA = 1e6


class PeakRSS:
    """Sample this process's resident memory every millisecond; ``extra`` is peak − start."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self._stop = threading.Event()
        self.start = self.peak = self._proc.memory_info().rss

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.001)

    def __enter__(self) -> PeakRSS:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def extra(self) -> int:
        return self.peak - self.start


def fingerprint(model) -> dict[str, list]:
    import hashlib

    out = {}
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if t.is_meta:
            out[name] = ["meta", 0, ""]
            continue
        digest = hashlib.blake2b(t.detach().contiguous().numpy(), digest_size=16).hexdigest()
        out[name] = [t.device.type, t.data_ptr(), digest]
    return out


def figures(stats, batch: int) -> dict:
    return {
        "params": stats.total_params,
        "mult_adds": stats.total_mult_adds,
        "mult_adds_per_image": stats.total_mult_adds / batch,
        "fwd_bwd_mb": stats.total_output_bytes / MEGA,
        "params_mb": stats.total_param_bytes / MEGA,
    }


def run_case(case: str) -> dict:
    """One measurement, in this process (called in a child)."""
    import resource

    import torch
    from torchinfo import summary
    from torchvision.models import vgg16

    torch.manual_seed(0)
    model = vgg16(weights=None)
    before = fingerprint(model) if case in ("meta", "naive") else None
    result: dict = {"case": case}
    if case == "meta":
        from lessonlib.summaries import summary_on_meta

        with PeakRSS() as rss:
            t0 = time.perf_counter()
            stats = summary_on_meta(model, INPUT, verbose=0)
            result["seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        summary_on_meta(model, INPUT, verbose=0)
        result["warm_seconds"] = time.perf_counter() - t0
        result.update(figures(stats, INPUT[0]))
    elif case == "naive":
        with PeakRSS() as rss:
            t0 = time.perf_counter()
            stats = summary(model, input_size=INPUT, device="meta", verbose=0)
            result["seconds"] = time.perf_counter() - t0
        result.update(figures(stats, INPUT[0]))
    elif case in ("cpu8", "cpu250"):
        batch = 8 if case == "cpu8" else 250
        with PeakRSS() as rss:
            t0 = time.perf_counter()
            stats = summary(model, input_size=(batch, *INPUT[1:]), verbose=0)
            result["seconds"] = time.perf_counter() - t0
        result.update(figures(stats, batch))
    else:
        raise SystemExit(f"unknown case {case!r}")
    result["extra_rss_mb"] = rss.extra / MEGA
    result["process_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MEGA
    if before is not None:
        result["weights_unchanged"] = fingerprint(model) == before
        result["weights_on"] = next(model.parameters()).device.type
    return result


def in_child(case: str, timeout: float) -> dict:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, __file__, "--case", case],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(
            f"case {case} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument(
        "--cpu-250", action="store_true", help="also run batch 250 on the CPU (~65 s, ~10 GB)"
    )
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return 0

    import torch
    import torchinfo

    print(
        f"vgg16(weights=None), torch {torch.__version__}, torchinfo {torchinfo.__version__}, "
        f"{os.cpu_count()} CPUs; each case in a fresh process"
    )
    meta = in_child("meta", 300)
    cpu8 = in_child("cpu8", 300)
    naive = in_child("naive", 300)
    print(
        f"meta, batch 250 (summary_on_meta): {meta['seconds']:.3f} s first call "
        f"({meta['warm_seconds']:.3f} s warm), +{meta['extra_rss_mb']:.0f} MB peak RSS "
        f"(process peak {meta['process_peak_mb']:.0f} MB incl. torch and the 553 MB model), "
        f"caller's weights unchanged: {'yes' if meta['weights_unchanged'] else 'NO'}"
    )
    print(
        f"  {meta['params']:,} params, {meta['mult_adds'] / 1e12:.2f} T mult-adds "
        f"({meta['mult_adds_per_image'] / 1e9:.2f} G per image), "
        f"fwd/bwd {meta['fwd_bwd_mb']:.2f} MB, params {meta['params_mb']:.2f} MB"
    )
    print(
        f"cpu, batch 8 (torchinfo summary): {cpu8['seconds']:.2f} s, "
        f"+{cpu8['extra_rss_mb']:.0f} MB peak RSS, {cpu8['mult_adds_per_image'] / 1e9:.2f} G "
        f"mult-adds per image, {cpu8['params']:,} params"
    )
    print(
        f"naive summary(device='meta'), batch 250: {naive['seconds']:.3f} s, "
        f"+{naive['extra_rss_mb']:.0f} MB, caller's model now on {naive['weights_on']} "
        f"(weights {'kept' if naive['weights_unchanged'] else 'destroyed'})"
    )
    if args.cpu_250:
        cpu250 = in_child("cpu250", 600)
        print(
            f"cpu, batch 250 (torchinfo summary): {cpu250['seconds']:.1f} s, "
            f"+{cpu250['extra_rss_mb']:.0f} MB peak RSS"
        )
    same = (
        meta["params"] == cpu8["params"]
        and meta["mult_adds"] * 8 == cpu8["mult_adds"] * 250
        and abs(meta["fwd_bwd_mb"] * 8 - cpu8["fwd_bwd_mb"] * 250) < 1e-6 * meta["fwd_bwd_mb"] * 8
    )
    ratio = cpu8["seconds"] / meta["seconds"]
    print(
        f"ratio: CPU at batch 8 / meta at batch 250 = {ratio:.0f}x "
        f"(meta does 31x the batch); per-image figures agree: {'yes' if same else 'NO'}"
    )
    checks = {
        f"{meta['seconds']:.3f} s <= 1 s": meta["seconds"] <= 1.0,
        f"+{meta['extra_rss_mb']:.0f} MB < 1000 MB": meta["extra_rss_mb"] < 1000,
        "weights unchanged": meta["weights_unchanged"],
        "same figures as the CPU": same,
    }
    ok = all(checks.values())
    failed = [name for name, good in checks.items() if not good]
    print(("PASS: " if ok else "FAIL: ") + ", ".join(checks if ok else failed))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
