"""``lessonlib inspect`` end to end: wall time, report size and peak memory per model.

Run: .venv/bin/python benchmarks/bench_inspect.py [resnet18 vit_b_16 ...] [--skip netron]

Each model runs as the real command (``python -m lessonlib inspect torchvision:NAME --input
1,3,224,224 --out build/bench/inspect/NAME``) in its own process, wrapped so that the child
reports its own peak resident memory (``ru_maxrss``: the Python process; the Netron server
and chromium are separate processes and not counted). Also printed: the CPU time, the load
average at the start (timings on a busy machine are not the quiet-machine targets), and
each view's seconds from the report.

Targets (issue 16, quiet 2-core machine): resnet18 ≤ 30 s, ≤ 2 GiB, report ≤ 10 MB;
vit_b_16 ≤ 90 s, ≤ 4 GiB. Exit code 1 if one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {  # seconds, GiB, MB of report (None: no target)
    "resnet18": (30, 2.0, 10),
    "mobilenet_v3_small": (None, None, None),
    "vit_b_16": (90, 4.0, None),
}
CHILD = """
import resource, sys, time
sys.argv = ["lessonlib", *sys.argv[1:]]
from lessonlib.cli import main
t0 = time.perf_counter()
try:
    main()
finally:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print("BENCH", usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime,
          time.perf_counter() - t0, file=sys.stderr)
"""


def run(name: str, skip: list[str]) -> dict:
    out = ROOT / "build" / "bench" / "inspect" / name
    args = ["inspect", f"torchvision:{name}", "--input", "1,3,224,224", "--out", str(out)]
    for view in skip:
        args += ["--skip", view]
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    bench = re.search(r"^BENCH (\d+) ([0-9.]+) ([0-9.]+)$", done.stderr, re.MULTILINE)
    if done.returncode != 0 or bench is None:
        return {"name": name, "error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    views = re.search(r"^seconds per view: (.*)$", done.stdout, re.MULTILINE)
    return {
        "name": name,
        "wall_s": wall,
        "cpu_s": float(bench[2]),
        "peak_gib": int(bench[1]) / 2**30,
        "report_mb": size / 2**20,
        "views": views[1] if views else "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["resnet18", "vit_b_16"])
    parser.add_argument("--skip", action="append", default=[], help="a view to leave out")
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'model':<20} {'wall s':>7} {'cpu s':>7} {'peak GiB':>9} {'report MB':>10}  targets")
    rows, missed = [], False
    for name in args.models:
        row = run(name, args.skip)
        rows.append(row)
        if "error" in row:
            print(f"{name:<20} failed: {row['error']}")
            missed = True
            continue
        secs, gib, mb = TARGETS.get(name, (None, None, None))
        checks = []
        for value, limit, unit in ((row["wall_s"], secs, "s"), (row["peak_gib"], gib, "GiB"),
                                   (row["report_mb"], mb, "MB")):  # fmt: skip
            if limit is not None:
                ok = value <= limit
                missed |= not ok
                checks.append(f"{'ok' if ok else 'MISSED'} ≤ {limit} {unit} ({value / limit:.2f}x)")
        print(
            f"{name:<20} {row['wall_s']:>7.1f} {row['cpu_s']:>7.1f} {row['peak_gib']:>9.2f} "
            f"{row['report_mb']:>10.2f}  {'; '.join(checks) or '-'}"
        )
        print(f"{'':<20} seconds per view: {row['views']}")
    if args.json:
        print(json.dumps(rows, indent=1))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
