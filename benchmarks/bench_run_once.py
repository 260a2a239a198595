"""One execution per lesson: `lessonlib run --all` then `lessonlib docs` from an empty build
folder (what `make run` does after set-up; target <= 150 s), then `lessonlib docs` again with
nothing changed (target <= 20 s).

The build goes to a temporary LESSONLIB_BUILD (the course's build/ is left alone); the site is
written to site/ as `make run` does, and the site that was there is put back at the end.

Run: .venv/bin/python benchmarks/bench_run_once.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSONLIB = str(ROOT / ".venv" / "bin" / "lessonlib")


def timed(args: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([LESSONLIB, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(
            f"lessonlib {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return seconds


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    build = Path(tempfile.mkdtemp(prefix="bench-run-once-"))
    env = dict(os.environ, LESSONLIB_BUILD=str(build))
    site, kept = ROOT / "site", build.with_name(build.name + "-site")
    if site.exists():  # the course's own site is put back afterwards (it shows build/, not ours)
        shutil.move(site, kept)
    try:
        run = timed(["run", "--all"], env)
        docs = timed(["docs"], env)
        again = timed(["docs"], env)
        notebooks = len(list(build.glob("*/*.ipynb")))
    finally:
        shutil.rmtree(build, ignore_errors=True)
        if kept.exists():
            shutil.rmtree(site, ignore_errors=True)
            shutil.move(kept, site)
    total = run + docs
    print(f"run --all {run:6.1f} s ({notebooks} executed notebooks), docs {docs:5.1f} s")
    print(f"make run after set-up: {total:6.1f} s   target <= 150 s   {_verdict(total <= 150)}")
    print(f"docs, nothing changed: {again:6.1f} s   target <= 20 s    {_verdict(again <= 20)}")
    return 0 if total <= 150 and again <= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
