"""Grading every lesson: 10 submissions per lesson with ``lessonlib grade --jobs 2``, timed.

Per lesson: 4 copies of the solution, 4 with one exercise's function replaced by the stub's
(a different one each time) and 2 untouched stubs. It checks each score exactly: full marks,
zero, and for a partial submission what the lesson's visible and hidden tests give the same
file (``lessonlib check``'s own verdict: a solution function may call another exercise's, so
one stubbed function can cost more than its own points). It prints the seconds per lesson and
per submission (the grading only, not the reference checks).

Run: .venv/bin/python benchmarks/bench_grade_lessons.py [--lessons 04 07] [--jobs 2]

``--timing-only`` skips the lesson's own tests for the partial submissions (their scores are
then only checked to lie strictly between zero and full marks): the cheap run the syllabus's
grading times come from.
"""

from __future__ import annotations

import argparse
import ast
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lessonlib.classroom.grading import case_file  # noqa: E402
from lessonlib.course.catalog import load_lessons  # noqa: E402
from lessonlib.course.checking import check_lesson  # noqa: E402


def with_stub_function(solution: str, stub: str, function: str) -> str:
    """The solution's source with ``function`` replaced by the stub's version of it."""
    stub_def = next(
        n for n in ast.parse(stub).body if isinstance(n, ast.FunctionDef) and n.name == function
    )
    tree = ast.parse(solution)
    tree.body = [
        stub_def if isinstance(n, ast.FunctionDef) and n.name == function else n for n in tree.body
    ]
    return ast.unparse(tree)


def tests_score(lesson, source: str, root: Path) -> int:
    """The points the lesson's visible and hidden tests give ``source``."""
    (root / lesson.slug).mkdir(parents=True)
    (root / lesson.slug / "exercises.py").write_text(source, encoding="utf-8")
    return check_lesson(lesson, root, hidden=True, warm=True).earned


def make_class(lesson, folder: Path, timing_only: bool = False) -> dict[str, int | None]:
    stub = lesson.exercises_file.read_text(encoding="utf-8")
    solution = (ROOT / "solutions" / lesson.slug / "exercises.py").read_text(encoding="utf-8")
    expected = {}
    for k in range(10):
        student = f"s{k:02d}"
        if k < 4:
            source, score = solution, lesson.points
        elif k < 8:
            ex = lesson.exercises[(k - 4) % len(lesson.exercises)]
            source = with_stub_function(solution, stub, ex.function)
            score = (
                None
                if timing_only
                else tests_score(lesson, source, folder.parent / "check" / student)
            )
        else:
            source, score = stub, 0
        (folder / student).mkdir(parents=True)
        (folder / student / "exercises.py").write_text(source, encoding="utf-8")
        expected[student] = score
    return expected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", nargs="*", default=None)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timing-only", action="store_true")
    args = parser.parse_args()
    lessons = [x for x in load_lessons() if case_file(x).is_file()]
    if args.lessons:
        lessons = [x for x in lessons if x.id in args.lessons]
    wrong_total = 0
    print(f"{'lesson':<8}{'students':>9}{'seconds':>9}{'s/student':>11}{'wrong':>7}")
    for lesson in lessons:
        with tempfile.TemporaryDirectory(prefix=f"bench-grade-{lesson.id}-") as tmp:
            subs, out = Path(tmp) / "subs", Path(tmp) / "out"
            expected = make_class(lesson, subs, args.timing_only)
            start = time.perf_counter()
            run = subprocess.run(
                [sys.executable, "-m", "lessonlib", "grade", str(subs), "--lesson", lesson.id,
                 "--out", str(out), "--jobs", str(args.jobs)],
                cwd=ROOT, capture_output=True, text=True, check=False,
            )  # fmt: skip
            took = time.perf_counter() - start
            try:
                rows = {r["student"]: r for r in csv.DictReader(open(out / "grades.csv"))}
            except OSError:
                rows = {}
            wrong = [
                f"{s}: {rows[s]['score'] if s in rows else 'missing'} != {want}"
                for s, want in expected.items()
                if s not in rows
                or (want is None and not 0 < float(rows[s]["score"]) < lesson.points)
                or (want is not None and float(rows[s]["score"]) != want)
            ]
            wrong_total += len(wrong) + (run.returncode != 0)
            print(
                f"{lesson.id:<8}{len(expected):>9}{took:>9.1f}{took / len(expected):>11.2f}"
                f"{len(wrong):>7}" + ("" if run.returncode == 0 else f"  rc={run.returncode}")
            )
            for line in wrong[:5]:
                print(f"    {line}")
    print("all scores exact" if not wrong_total else f"{wrong_total} problems")
    return 0 if not wrong_total else 1


if __name__ == "__main__":
    sys.exit(main())
