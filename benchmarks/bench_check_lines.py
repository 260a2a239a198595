"""Check code per lesson, before and after the one-check format (target: after <= 60 % before).

Before (git commit BEFORE, the last one with the old layout): the visible pytest file, the
hidden pytest file, the grading case file and its inputs module, plus the lesson's share of
the support modules they imported. After (the working tree): ``lessons/NN_x/checks.py`` +
``solutions/NN_x/hidden.py`` plus the lesson's share of the references it imports, directly or
through another reference. A module used by k lessons counts 1/k for each.

    python benchmarks/bench_check_lines.py
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BEFORE = "656421a"  # the layout with tests/lessons, tests/hidden and tests/support
SUPPORT_BEFORE = "tests/support/{}.py"


def git_lines(path: str) -> tuple[int, str]:
    out = subprocess.run(
        ["git", "show", f"{BEFORE}:{path}"], cwd=ROOT, capture_output=True, text=True
    )
    return (len(out.stdout.splitlines()), out.stdout) if out.returncode == 0 else (0, "")


def git_files(pattern: str) -> list[str]:
    out = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", BEFORE], cwd=ROOT, capture_output=True, text=True
    )
    return [p for p in out.stdout.splitlines() if re.fullmatch(pattern, p)]


def imported(source: str, prefix: str = "") -> set[str]:
    """Modules ``source`` imports (``from a.b import c`` counts ``a.b`` and ``a.b.c``)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n[len(prefix) :] for n in names if n.startswith(prefix)}


def before() -> dict[str, float]:
    support = {Path(p).stem for p in git_files(r"tests/support/\w+\.py")}
    support |= {"call_start"}
    own: dict[str, int] = defaultdict(int)
    uses: dict[str, set[str]] = defaultdict(set)
    for path in git_files(r"tests/(lessons|hidden)/(test|grading)_\d\d\w*\.py"):
        lesson = re.search(r"_(\d\d)", Path(path).name).group(1)
        n, text = git_lines(path)
        own[lesson] += n
        for name in imported(text) & support:
            uses[name].add(lesson)
    total = dict.fromkeys(own, 0.0)
    for lesson, n in own.items():
        total[lesson] += n
    for name, lessons in uses.items():
        n, _ = git_lines(SUPPORT_BEFORE.format(name))
        if not n:
            n, _ = git_lines(f"tests/hidden/{name}.py")
        for lesson in lessons:
            total[lesson] += n / len(lessons)
    return total


def after() -> dict[str, float]:
    refs = ROOT / "lessonlib" / "classroom" / "references"
    prefix = "lessonlib.classroom.references."
    own: dict[str, int] = {}
    uses: dict[str, set[str]] = defaultdict(set)
    for checks in sorted(ROOT.glob("lessons/*/checks.py")):
        lesson = checks.parent.name[:2]
        hidden = ROOT / "solutions" / checks.parent.name / "hidden.py"
        files = [checks] + ([hidden] if hidden.is_file() else [])
        own[lesson] = sum(len(f.read_text().splitlines()) for f in files)
        todo = [f.read_text() for f in files]
        seen: set[str] = set()
        while todo:  # the references the checks import, and those they import in turn
            for name in imported(todo.pop(), prefix):
                module = name.split(".")[0]
                uses[module].add(lesson)
                if module not in seen and (refs / f"{module}.py").is_file():
                    seen.add(module)
                    todo.append((refs / f"{module}.py").read_text())
    total = {k: float(v) for k, v in own.items()}
    for name, lessons in uses.items():
        path = refs / f"{name}.py"
        if not path.is_file():
            continue
        n = len(path.read_text().splitlines())
        for lesson in lessons:
            total[lesson] += n / len(lessons)
    return total


def main() -> None:
    old, new = before(), after()
    print(f"{'lesson':<8}{'before':>8}{'after':>8}{'ratio':>8}")
    for lesson in sorted(set(old) | set(new)):
        b, a = old.get(lesson, 0.0), new.get(lesson, 0.0)
        ratio = f"{a / b:.0%}" if b else "new"
        print(f"{lesson:<8}{b:>8.0f}{a:>8.0f}{ratio:>8}")
    shared = [k for k in old if k in new]
    b = sum(old[k] for k in shared)
    a = sum(new[k] for k in shared)
    print(f"{'all':<8}{b:>8.0f}{a:>8.0f}{a / b:>8.0%}   (lessons present before and after)")


if __name__ == "__main__":
    main()
