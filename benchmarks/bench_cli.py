"""Speed targets of the foundation: CLI start-up, lesson 01, check 01, cached docs build.

Run: .venv/bin/python benchmarks/bench_cli.py   (prints numbers and PASS/FAIL per target)
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSONLIB = [sys.executable, "-m", "lessonlib"]
ENV = dict(os.environ, LESSONLIB_STATE=str(ROOT / "build" / "bench-state.json"))


def timed(cmd: list[str], repeat: int = 1, env: dict | None = None) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env or ENV, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def report(name: str, seconds: float, target: float) -> bool:
    ok = seconds <= target
    print(f"{name:<34} {seconds:7.2f} s   target <= {target:g} s   {'PASS' if ok else 'FAIL'}")
    return ok


def _stop_workers(folder: Path) -> None:
    for lock in folder.rglob("*.lock"):
        pid = lock.read_text().strip()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)


def main() -> int:
    script = [str(ROOT / ".venv" / "bin" / "lessonlib")]
    results = [
        report("lessonlib --help (median of 5)", timed(script + ["--help"], 5), 0.5),
        report("lessonlib run 01", timed(LESSONLIB + ["run", "01"]), 20),
    ]
    # Cold: a fresh engine process per check (LESSONLIB_WARM_CHECK=0). Warm: the first check starts
    # the worker (counted separately), the next ones fork it with torch already imported.
    cold_env = dict(ENV, LESSONLIB_WARM_CHECK="0")
    warm_env = dict(ENV, LESSONLIB_WARM_CHECK="1", TMPDIR=tempfile.mkdtemp(prefix="bench-"))
    check = LESSONLIB + ["check", "01"]
    cold = timed(check, 3, cold_env)
    first = timed(check, 1, warm_env)
    warm = timed(check, 5, warm_env)
    results.append(report("check 01, cold (median of 3)", cold, 5))
    results.append(report("check 01, first with the worker", first, 5))
    results.append(report("check 01, warm (median of 5)", warm, 2))
    print(f"{'warm check speed-up over cold':<34} {cold / warm:7.1f} x")
    _stop_workers(Path(warm_env["TMPDIR"]))
    timed(LESSONLIB + ["docs"])  # make sure the execution cache is warm
    results.append(report("docs build, cached outputs", timed(LESSONLIB + ["docs"]), 60))
    print(f"{sum(results)}/{len(results)} targets met")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
