"""`lessonlib progress`: from scratch, with nothing changed (<= 2 s), with one lesson changed.

"One lesson changed" drops lesson 01's recorded verdict from a copy of the state (the same
as editing its exercises.py, without touching the course's file); target: no slower than the
slowest single `lessonlib check` of one lesson, measured here too.

Run: .venv/bin/python benchmarks/bench_progress.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSONLIB = str(ROOT / ".venv" / "bin" / "lessonlib")


def timed(args: list[str], env: dict, repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run([LESSONLIB, *args], cwd=ROOT, env=env, capture_output=True)
        times.append(time.perf_counter() - t0)
        if proc.returncode not in (0, 1):
            sys.exit(f"lessonlib {' '.join(args)} failed: {proc.stderr.decode()[-1000:]}")
    return statistics.median(times)


def main() -> int:
    state = Path(tempfile.mkdtemp(prefix="bench-progress-")) / "state.json"
    env = dict(os.environ, LESSONLIB_STATE=str(state))
    cold = timed(["progress"], env)
    warm = timed(["progress"], env, repeat=5)
    data = json.loads(state.read_text())
    data["checks"].pop("01", None)
    state.write_text(json.dumps(data))
    one = timed(["progress"], env)
    lessons = sorted(data["checks"]) + ["01"]
    checks = {
        lid: timed(["check", lid], dict(env, LESSONLIB_STATE=str(state) + ".x")) for lid in lessons
    }
    slowest = max(checks.values())
    print(f"progress, nothing cached ({len(lessons)} lessons): {cold:6.2f} s")
    print(f"progress, nothing changed (median of 5):   {warm:6.2f} s   target <= 2 s")
    print(f"progress, lesson 01 changed:               {one:6.2f} s   target <= slowest check")
    print("check per lesson: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(checks.items())))
    ok = warm <= 2.0 and one <= slowest * 1.1
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
