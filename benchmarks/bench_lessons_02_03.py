"""Run time of lessons 02 (data visualization) and 03 (model summaries): target ≤ 30 s each.

Run: .venv/bin/python benchmarks/bench_lessons_02_03.py [--repeat N]

Each lesson runs as ``lessonlib run NN`` does (its own process, output captured into
``build/NN/run.log``). Lesson 02 uses the trained models cached under ``build/cache``; if
the cache was cold the first run includes that training, so the median of the runs is
reported next to the first one. Also printed: what each lesson wrote.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from lessonlib.course.catalog import find_lesson
from lessonlib.course.runner import run_lesson

TARGET_S = 30.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs per lesson (default 2)")
    args = parser.parse_args()
    ok = True
    for lesson_id in ("02", "03"):
        lesson = find_lesson(lesson_id)
        times, written = [], []
        for _ in range(max(1, args.repeat)):
            result = run_lesson(lesson, capture=True)
            if not result.ok:
                print(f"lesson {lesson_id} failed (exit {result.returncode}); see {result.log}")
                return 1
            times.append(result.seconds)
            written = result.artifacts
        median = statistics.median(times)
        pngs = sum(1 for p in written if p.suffix == ".png")
        good = median <= TARGET_S
        ok &= good
        print(
            f"lesson {lesson_id} ({lesson.title}): first {times[0]:.1f} s, median {median:.1f} s "
            f"of {len(times)}, {len(written)} files ({pngs} PNG)   target <= {TARGET_S:g} s   "
            f"{'PASS' if good else 'FAIL'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
