"""``lessonlib release``: the student copy of the course.

It holds what a student works with — the lessons with their stubs and visible checks, the
library, the docs sources, the set-up scripts — and never ``solutions/`` (solutions and
hidden cases). The copy is checked after it is written: no path under
a private folder, no file identical to a solution, and every stub still raises its TODOs.
"""

from __future__ import annotations

import ast
import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from lessonlib.course.catalog import load_lessons
from lessonlib.errors import LessonlibError
from lessonlib.paths import project_root

# What goes out, relative to the course root; everything else stays home. The one list:
# ``release`` ships it to students, the Gradescope bundle ships it plus HIDDEN_CASES.
SHIPPED = (
    "lessons",
    "lessonlib",
    "tests/conftest.py",
    "tests/support",
    "docs",
    "scripts",
    "data/README.md",
    "pyproject.toml",
    "uv.lock",
    "mkdocs.yml",
    "README.md",
    ".gitignore",
    "LICENSE",
)
HIDDEN_CASES = "solutions/*/hidden.py"  # the autograder's, never a student's
PRIVATE = ("solutions",)


def shipped_files(root: Path, *, hidden_cases: bool = False) -> list[Path]:
    """Every file that ships (the student copy; with ``hidden_cases``, the autograder's)."""
    found: list[Path] = []
    for rel in SHIPPED:
        source = root / rel
        if source.is_symlink() or not source.exists():
            continue
        paths = sorted(source.rglob("*")) if source.is_dir() else [source]
        for path in paths:
            parts = set(path.relative_to(root).parts)
            if (
                path.is_file()
                and not path.is_symlink()
                and not parts & _SKIPPED_NAMES
                and not path.name.endswith(_SKIPPED_SUFFIXES)
            ):
                found.append(path)
    if hidden_cases:
        found += sorted(p for p in root.glob(HIDDEN_CASES) if p.is_file())
    return found


_SKIPPED_NAMES = {"__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"}
_SKIPPED_SUFFIXES = (".pyc", ".pyo")

STUDENT_TEST_RECIPE = "\t$(BIN)/python -m pytest lessons -q\n"
STUDENT_NOTE = """> **Student copy.** `make run` sets everything up and runs the lessons;
> `make test` checks your exercises (`lessonlib check 01` checks one lesson,
> `lessonlib hint 01.2` gives a hint).

"""


@dataclass
class ReleaseReport:
    out_dir: Path
    files: int
    lessons: list[str]


def _ignore(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in _SKIPPED_NAMES or n.endswith(_SKIPPED_SUFFIXES)}


def student_makefile(course_makefile: str) -> str:
    """The course's Makefile with ``make test`` checking the student's own exercises."""
    lines = course_makefile.splitlines(keepends=True)
    out, in_test = [], False
    for line in lines:
        if re.match(r"^test\s*:", line):
            while out and out[-1].startswith("#"):  # the course's comment on its own test
                out.pop()
            in_test = True
            out.append("test: venv system ## check your exercises (lessons/*/exercises.py)\n")
            out.append(STUDENT_TEST_RECIPE)
            continue
        if in_test and line.startswith("\t"):
            continue
        in_test = False
        out.append(line)
    text = "".join(out)
    if STUDENT_TEST_RECIPE not in text:
        raise LessonlibError("the course Makefile has no 'test:' target to adapt for students.")
    return text


def _stub_problems(out_dir: Path) -> list[str]:
    problems = []
    for lesson in load_lessons(out_dir):
        try:
            tree = ast.parse(lesson.exercises_file.read_text(encoding="utf-8"))
        except (OSError, SyntaxError) as exc:
            problems.append(f"{lesson.exercises_file.relative_to(out_dir)} cannot be read ({exc})")
            continue
        todos = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("TODO(")
        }
        for ex in lesson.exercises:
            if f"TODO({ex.id})" not in todos:
                problems.append(
                    f"lessons/{lesson.slug}/exercises.py no longer raises TODO({ex.id}): "
                    "release would hand out an answer; restore the stub"
                )
    return problems


def verify_release(out_dir: Path, root: Path | None = None) -> list[str]:
    """Problems with a student copy: private folders, copies of solution files, solved stubs."""
    root = root or project_root()
    problems = []
    for private in PRIVATE:
        if (out_dir / private).exists():
            problems.append(f"{private}/ is in the student copy")
    solution_hashes = {
        hashlib.sha256(p.read_bytes()).hexdigest(): p.relative_to(root)
        for p in (root / "solutions").rglob("*")
        if p.is_file()
    }
    for path in sorted(out_dir.rglob("*")):
        if path.is_symlink():
            problems.append(f"{path.relative_to(out_dir)} is a symbolic link")
        elif path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() in solution_hashes:
            source = solution_hashes[hashlib.sha256(path.read_bytes()).hexdigest()]
            problems.append(f"{path.relative_to(out_dir)} is a copy of {source}")
    return problems + _stub_problems(out_dir)


def release(out_dir: Path) -> ReleaseReport:
    """Write the student copy into ``out_dir`` (new or empty) and verify it."""
    root = project_root()
    out_dir = Path(out_dir).resolve()
    for inside in ("lessons", "solutions", "tests", "lessonlib", "docs"):
        if out_dir.is_relative_to(root / inside):
            raise LessonlibError(f"write the student copy outside the course's {inside}/ folder.")
    if out_dir == root:
        raise LessonlibError("write the student copy into a new folder, not the course itself.")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise LessonlibError(f"{out_dir} is not empty; give a new or empty folder.")
    out_dir.mkdir(parents=True, exist_ok=True)
    for source in shipped_files(root):
        target = out_dir / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    makefile = root / "Makefile"
    if makefile.is_file():
        (out_dir / "Makefile").write_text(
            student_makefile(makefile.read_text(encoding="utf-8")), encoding="utf-8"
        )
    readme = out_dir / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        head, _, rest = text.partition("\n")
        readme.write_text(f"{head}\n\n{STUDENT_NOTE}{rest.lstrip()}", encoding="utf-8")
    problems = verify_release(out_dir, root)
    if problems:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise LessonlibError(f"release refused, nothing written: {problems[0]}.")
    files = sum(1 for p in out_dir.rglob("*") if p.is_file())
    return ReleaseReport(out_dir, files, [lesson.id for lesson in load_lessons(out_dir)])
