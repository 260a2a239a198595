"""The learner's state: hint counters and the last check of each lesson (a cache).

Stored as one small JSON file, written atomically. Deleting it loses only the hint
counters: check results are recomputed from the exercises files when missing or stale.
A recorded check is reused only while the student's exercises.py (its content hash), the
lesson's checks and meta.toml, and the library that runs them are all unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lessonlib.errors import LessonlibError
from lessonlib.messages import N_
from lessonlib.paths import state_file


def load_state(path: Path | None = None) -> dict[str, Any]:
    """The state, or an empty one when the file is missing or unreadable."""
    path = path or state_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"hints": {}, "checks": {}}
    if not isinstance(data, dict):
        return {"hints": {}, "checks": {}}
    data.setdefault("hints", {})
    data.setdefault("checks", {})
    return data


def save_state(state: dict[str, Any], path: Path | None = None) -> None:
    """Write the state atomically (a temp file in the same folder, then ``os.replace``)."""
    path = path or state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes ('' when it does not exist)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def hints_shown(exercise_id: str, state: dict[str, Any] | None = None) -> int:
    state = state if state is not None else load_state()
    return int(state["hints"].get(exercise_id, 0))


# Said (translated) after the last hint of an exercise, by `lessonlib hint` and by `watch`.
LAST_HINT = N_("That was the last hint: the lesson page shows the idea in full.")


def next_hint(exercise_id: str, hints: tuple[str, ...]) -> tuple[int, str, bool]:
    """Reveal the next hint: (its number from 1, its text, whether it was the last)."""
    state = load_state()
    shown = hints_shown(exercise_id, state)
    if not hints:
        return 0, "this exercise has no hints; read its docstring and the lesson.", True
    number = min(shown + 1, len(hints))
    state["hints"][exercise_id] = number
    save_state(state)
    return number, hints[number - 1], number == len(hints)


def library_version() -> str:
    """lessonlib's version and a hash of the check engine's sources (what it imports)."""
    from lessonlib import __version__
    from lessonlib.course.runner import imported_library_files

    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(__version__.encode())
    engine = package / "course" / "checking.py"
    for path in [engine, *imported_library_files(engine)]:
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def checks_digest(lesson: Any, library: str | None = None) -> str:
    """What a lesson's verdicts depend on besides the student's file: its checks, its
    meta.toml, its test files, the lessonlib modules they import and the engine's version.
    ``lesson``: a Lesson or its id ('' for an unknown id)."""
    from lessonlib.paths import project_root

    if isinstance(lesson, str):
        from lessonlib.course.catalog import load_lessons

        lesson = next((x for x in load_lessons() if x.id == lesson), None)
        if lesson is None:
            return ""
    from lessonlib.course.runner import imported_library_files

    digest = hashlib.sha256((library or library_version()).encode())
    tests = project_root() / "tests" / "lessons"
    paths = [lesson.path / "meta.toml", lesson.path / "checks.py"]
    paths += sorted(tests.glob(f"test_{lesson.id}_*.py"))
    paths += imported_library_files(*[p for p in paths if p.suffix == ".py" and p.exists()])
    for path in paths:
        digest.update(path.name.encode() + b"\0" + file_digest(path).encode())
    return digest.hexdigest()[:16]


def record_check(
    lesson_id: str,
    digest: str,
    statuses: dict[str, str],
    earned: int,
    *,
    state: dict[str, Any] | None = None,
    checks: str | None = None,
) -> None:
    """Record a lesson's verdicts against the content hash of the exercises file checked.

    Pass ``state`` to record into it without writing (several at once: then ``save_state``).
    """
    entry = {
        "digest": digest,
        "checks": checks if checks is not None else checks_digest(lesson_id),
        "statuses": statuses,
        "earned": earned,
    }
    if state is not None:
        state["checks"][lesson_id] = entry
        return
    state = load_state()
    state["checks"][lesson_id] = entry
    save_state(state)


def cached_check(
    lesson_id: str,
    digest: str,
    *,
    state: dict[str, Any] | None = None,
    checks: str | None = None,
) -> dict[str, Any] | None:
    """The recorded check of a lesson if its exercises file, checks and library are unchanged."""
    entry = (state if state is not None else load_state())["checks"].get(lesson_id)
    if not entry or entry.get("digest") != digest:
        return None
    if entry.get("checks") != (checks if checks is not None else checks_digest(lesson_id)):
        return None
    return entry


def lesson_progress(
    lessons: list,
    *,
    jobs: int = 2,
    on_start: Callable[[list], None] | None = None,
    on_done: Callable[[Any], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each lesson's recorded check, re-checking (``jobs`` at a time, through the warm worker)
    only the lessons whose exercises file, checks or library changed since."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from lessonlib.course.checking import check_lesson

    disk = load_state()
    recorded: dict[str, Any] = {"checks": {}}
    library = library_version()
    keys = {x.id: (file_digest(x.exercises_file), checks_digest(x, library)) for x in lessons}
    entries: dict[str, dict[str, Any]] = {}
    stale = []
    for lesson in lessons:
        digest, checks = keys[lesson.id]
        entry = cached_check(lesson.id, digest, state=disk, checks=checks)
        if entry is None:
            stale.append(lesson)
        else:
            entries[lesson.id] = entry
    if not stale:
        return entries
    if on_start:
        on_start(stale)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(check_lesson, lesson, warm=True): lesson for lesson in stale}
        for future in as_completed(futures):
            lesson = futures[future]
            try:
                report = future.result()
            except LessonlibError as exc:  # a problem in the course: shown, never cached
                entries[lesson.id] = {"statuses": {}, "earned": 0, "problem": str(exc)}
                if on_done:
                    on_done(None)
                continue
            digest, checks = keys[lesson.id]
            # The file may have changed while it was checked: record what was checked.
            if file_digest(report.exercises_file) == digest:
                record_check(
                    lesson.id,
                    digest,
                    report.statuses(),
                    report.earned,
                    state=recorded,
                    checks=checks,
                )
            entries[lesson.id] = {"statuses": report.statuses(), "earned": report.earned}
            if on_done:
                on_done(report)
    fresh = load_state()  # keep what was written meanwhile (hint counters, other checks)
    fresh["checks"].update(recorded["checks"])
    save_state(fresh)
    return entries


def first_unfinished_lesson(lessons: list) -> Any:
    """The first lesson whose recorded check is not all passed (or that was never checked)."""
    state = load_state()
    library = library_version()
    for lesson in lessons:
        digest, checks = file_digest(lesson.exercises_file), checks_digest(lesson, library)
        entry = cached_check(lesson.id, digest, state=state, checks=checks)
        if entry is None or any(s != "passed" for s in entry["statuses"].values()):
            return lesson
    return lessons[-1]
