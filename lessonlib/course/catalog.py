"""The course as data: lessons and exercises read from each lesson's ``meta.toml``."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lessonlib.errors import LessonlibError
from lessonlib.paths import project_root


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id (``01.2``), the function the student writes, points and hints."""

    id: str
    title: str
    function: str
    points: int
    hints: tuple[str, ...]
    lesson_id: str
    assesses: str = ""


@dataclass(frozen=True)
class Lesson:
    """One lesson folder under ``lessons/`` with its metadata."""

    id: str
    slug: str
    path: Path
    title: str
    summary: str
    tools: tuple[str, ...]
    objectives: tuple[str, ...]
    exercises: tuple[Exercise, ...] = field(default_factory=tuple)
    prerequisites: tuple[str, ...] = ()
    minutes_class: int = 0
    minutes_home: int = 0
    run_seconds: int = 0  # about how long `lessonlib run` takes (orders parallel runs)

    @property
    def script(self) -> Path:
        return self.path / "lesson.py"

    @property
    def exercises_file(self) -> Path:
        return self.path / "exercises.py"

    @property
    def points(self) -> int:
        return sum(e.points for e in self.exercises)

    @property
    def checks_file(self) -> Path:
        """The visible cases: ``lessons/NN_x/checks.py``."""
        return self.path / "checks.py"


def exercises_candidates(lesson: Lesson) -> list[str]:
    """Where a lesson's exercises.py may sit in a folder, in the order looked at — the one rule
    ``check``, pytest and ``grade`` share: a lessons folder (or ``solutions/``), a copy of the
    course, or a folder holding just the file."""
    return [f"{lesson.slug}/exercises.py", f"lessons/{lesson.slug}/exercises.py", "exercises.py"]


@functools.lru_cache(maxsize=256)
def _parse_toml(path: Path, stamp: tuple[int, int]) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def read_toml(path: Path) -> dict:
    """A TOML file's contents, parsed once per version of the file (its mtime and size): the
    site build asks for each lesson's meta.toml and ko.toml hundreds of times. The dict is
    shared: read it, do not change it."""
    stat = path.stat()
    return _parse_toml(path, (stat.st_mtime_ns, stat.st_size))


def _read_lesson(path: Path) -> Lesson:
    meta_path = path / "meta.toml"
    try:
        meta = read_toml(meta_path)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LessonlibError(f"{meta_path} cannot be read: {exc}.") from exc
    lesson_id = path.name.split("_", 1)[0]
    exercises = tuple(
        Exercise(
            id=str(ex["id"]),
            title=str(ex["title"]),
            function=str(ex["function"]),
            points=int(ex.get("points", 1)),
            hints=tuple(ex.get("hints", ())),
            lesson_id=lesson_id,
            assesses=str(ex.get("assesses", "")),
        )
        for ex in meta.get("exercises", [])
    )
    return Lesson(
        id=lesson_id,
        slug=path.name,
        path=path,
        title=str(meta["title"]),
        summary=str(meta.get("summary", "")),
        tools=tuple(meta.get("tools", ())),
        objectives=tuple(meta.get("objectives", ())),
        exercises=exercises,
        prerequisites=tuple(str(p) for p in meta.get("prerequisites", ())),
        minutes_class=int(meta.get("minutes_class", 0)),
        run_seconds=int(meta.get("run_seconds", 0)),
        minutes_home=int(meta.get("minutes_home", 0)),
    )


def load_lessons(root: Path | None = None) -> list[Lesson]:
    """Every lesson under ``<root>/lessons``, in order of id."""
    base = (root or project_root()) / "lessons"
    folders = (
        sorted(
            p
            for p in base.iterdir()
            if p.is_dir() and p.name[:2].isdigit() and (p / "meta.toml").exists()
        )
        if base.is_dir()
        else []
    )
    return [_read_lesson(p) for p in folders]


def _id_list(lessons: list[Lesson]) -> str:
    ids = [lesson.id for lesson in lessons]
    return ", ".join(ids) if len(ids) <= 3 else f"{ids[0]}…{ids[-1]}"


def normalize_lesson_id(text: str) -> str:
    """``1``, ``01`` and ``01_autograd_graphs`` all mean lesson ``01``."""
    head = text.strip().split("_", 1)[0]
    return head.zfill(2) if head.isdigit() else head


def normalize_exercise_id(text: str) -> str:
    """``1.2``, ``01.2`` and ``01.02`` all mean exercise ``01.2``."""
    lesson_part, dot, number = text.strip().partition(".")
    number = number.strip()
    if number.isdigit():
        number = str(int(number))
    return normalize_lesson_id(lesson_part) + dot + number


def find_lesson(lesson_id: str, root: Path | None = None) -> Lesson:
    """The lesson with this id, or a one-sentence error naming the ids that exist."""
    lessons = load_lessons(root)
    wanted = normalize_lesson_id(lesson_id)
    for lesson in lessons:
        if lesson.id == wanted:
            return lesson
    from lessonlib.messages import _

    raise LessonlibError(
        _("no lesson {id}; lessons are {ids}.").format(id=lesson_id, ids=_id_list(lessons))
    )


def find_exercise(exercise_id: str, root: Path | None = None) -> tuple[Lesson, Exercise]:
    """The exercise with this id (``01.2``, ``1.2``), or a one-sentence error naming valid ids."""
    wanted = normalize_exercise_id(exercise_id)
    lesson = find_lesson(wanted.split(".", 1)[0], root)
    for ex in lesson.exercises:
        if ex.id == wanted:
            return lesson, ex
    ids = [ex.id for ex in lesson.exercises]
    listed = ", ".join(ids) if len(ids) <= 3 else f"{ids[0]}…{ids[-1]}"
    from lessonlib.messages import _

    raise LessonlibError(
        _("no exercise {id}; lesson {lesson}'s exercises are {ids}.").format(
            id=exercise_id, lesson=lesson.id, ids=listed
        )
    )
