"""Grading throughput: 100 lesson-01 submissions with ``lessonlib grade --jobs 2``, against the
naive way (one fresh pytest process per submission on the visible and hidden cases).

Targets: grading 100 submissions in <= 60 s, >= 5x faster than the naive way, and a learner's
``lessonlib check 01`` in <= 5 s. Run: ``.venv/bin/python benchmarks/bench_grade.py``.
"""

from __future__ import annotations

import argparse
import ast
import csv
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lessonlib.course.catalog import find_lesson  # noqa: E402

LESSON = find_lesson("01")


def make_submissions(folder: Path) -> dict[str, int]:
    """40 full, 30 stubs, 20 with one function missing, 10 syntax errors; student -> score."""
    stub = LESSON.exercises_file.read_text(encoding="utf-8")
    solution = (ROOT / "solutions" / LESSON.slug / "exercises.py").read_text(encoding="utf-8")
    expected = {}
    for k in range(100):
        student = f"s{k:03d}"
        if k < 40:
            source, score = solution, LESSON.points
        elif k < 70:
            source, score = stub, 0
        elif k < 90:
            ex = LESSON.exercises[k % len(LESSON.exercises)]
            tree = ast.parse(solution)
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and node.name == ex.function:
                    node.body = ast.parse("raise NotImplementedError").body
            source, score = ast.unparse(tree), LESSON.points - ex.points
        else:
            source, score = solution + "\ndef broken(:\n", 0
        (folder / student).mkdir(parents=True)
        (folder / student / "exercises.py").write_text(source, encoding="utf-8")
        expected[student] = score
    return expected


def time_grade(subs: Path, out: Path, jobs: int) -> tuple[float, dict[str, int]]:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "lessonlib",
            "grade",
            str(subs),
            "--lesson",
            "01",
            "--out",
            str(out),
            "--jobs",
            str(jobs),
            "--timeout",
            "20",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
    )
    seconds = time.perf_counter() - start
    with open(out / "grades.csv", newline="") as fh:
        scores = {r["student"]: int(r["score"]) for r in csv.DictReader(fh)}
    return seconds, scores


def naive_one(submission: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(LESSON.checks_file),
            f"--lesson-root={submission}",
            "--lesson-hidden",
            "-q",
            "-p",
            "no:cacheprovider",
            "--no-header",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, MPLBACKEND="Agg"),
        timeout=600,
    )
    return time.perf_counter() - start


def time_check() -> float:
    with tempfile.TemporaryDirectory() as state:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "lessonlib", "check", "01"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ, LESSONLIB_STATE=f"{state}/state.json"),
        )
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--sample", type=int, default=10, help="naive runs to extrapolate from")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        subs = Path(tmp) / "subs"
        expected = make_submissions(subs)
        grade_s, scores = time_grade(subs, Path(tmp) / "out", args.jobs)
        wrong = [s for s, want in expected.items() if scores.get(s) != want]
        # The naive sample keeps the class's mix (every tenth student) and the same parallelism.
        sample = [subs / f"s{k:03d}" for k in range(0, 100, max(1, 100 // args.sample))]
        start = time.perf_counter()
        with ThreadPoolExecutor(args.jobs) as pool:
            per_process = list(pool.map(naive_one, sample))
        naive_sample_s = time.perf_counter() - start
    naive_s = naive_sample_s * 100 / len(sample)
    ratio = naive_s / grade_s
    check_s = time_check()
    cpus = os.cpu_count()
    load = os.getloadavg()[0]
    print(f"machine: {cpus} CPUs, load average {load:.1f} at the end")
    print(
        f"lessonlib grade, 100 submissions, --jobs {args.jobs}: {grade_s:.1f} s "
        f"({len(wrong)} wrong scores)"
    )
    print(
        f"naive (fresh pytest per submission, {args.jobs} at a time): {len(sample)} took "
        f"{naive_sample_s:.1f} s (mean {sum(per_process) / len(per_process):.1f} s each) "
        f"-> {naive_s:.0f} s for 100"
    )
    print(f"speed-up: {ratio:.1f}x")
    print(f"lessonlib check 01 (a learner's stub): {check_s:.1f} s")
    verdicts = [
        ("grade 100 <= 15 s", grade_s <= 15 and not wrong),
        (">= 5x faster than naive", ratio >= 5),
        ("check 01 <= 5 s", check_s <= 5),
    ]
    for label, ok in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
