"""`lessonlib watch`: seconds from a save to the verdict on screen, in a real terminal (tmux).

A copy of lesson 01's exercises is watched (the course's file is never touched); each round
saves the solved file or the stub, alternately, and polls the screen every 20 ms. Target:
<= 2 s (warm: the first check, which may start the check worker, is not counted).

Run: .venv/bin/python benchmarks/bench_watch.py [rounds]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSON = "01_autograd_graphs"


def screen(session: str) -> str:
    out = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True)
    return out.stdout.decode(errors="replace")


def wait_for(session: str, text: str, timeout: float = 120) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if text in screen(session):
            return time.perf_counter() - t0
        time.sleep(0.02)
    sys.exit(f"{text!r} not on screen after {timeout} s:\n{screen(session)}")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    work = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    folder = work / "lessons" / LESSON
    folder.mkdir(parents=True)
    stub = (ROOT / "lessons" / LESSON / "exercises.py").read_text()
    solved = (ROOT / "solutions" / LESSON / "exercises.py").read_text()
    (folder / "exercises.py").write_text(stub)
    session = f"bench-watch-{uuid.uuid4().hex[:6]}"
    lessonlib = ROOT / ".venv" / "bin" / "lessonlib"
    cmd = (
        f"cd {ROOT} && LESSONLIB_STATE={work}/state.json {lessonlib} watch 01 --root {work}/lessons"
    )
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40", cmd])
    times = []
    try:
        wait_for(session, "h: next hint for 01.1")
        for i in range(rounds):
            done = i % 2 == 0
            (folder / "exercises.py").write_text(solved if done else stub)
            times.append(wait_for(session, "lesson 01 done" if done else "h: next hint for 01.1"))
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    median = statistics.median(times)
    print("save -> verdict: " + ", ".join(f"{t:.2f}" for t in times) + " s")
    ok = median <= 2.0
    print(f"median {median:.2f} s, max {max(times):.2f} s   target <= 2 s   {_verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
