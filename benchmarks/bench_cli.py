"""Speed targets of the foundation: CLI start-up, lesson 01, check 01, cached docs build.

Run: .venv/bin/python benchmarks/bench_cli.py   (prints numbers and PASS/FAIL per target)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSONLIB = [sys.executable, "-m", "lessonlib"]
ENV = dict(os.environ, LESSONLIB_STATE=str(ROOT / "build" / "bench-state.json"))


def timed(cmd: list[str], repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def report(name: str, seconds: float, target: float) -> bool:
    ok = seconds <= target
    print(f"{name:<34} {seconds:7.2f} s   target <= {target:g} s   {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    script = [str(ROOT / ".venv" / "bin" / "lessonlib")]
    results = [
        report("lessonlib --help (median of 5)", timed(script + ["--help"], 5), 0.5),
        report("lessonlib run 01", timed(LESSONLIB + ["run", "01"]), 20),
        report("lessonlib check 01 (median of 3)", timed(LESSONLIB + ["check", "01"], 3), 5),
    ]
    timed(LESSONLIB + ["docs"])  # make sure the execution cache is warm
    results.append(report("docs build, cached outputs", timed(LESSONLIB + ["docs"]), 60))
    print(f"{sum(results)}/{len(results)} targets met")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
