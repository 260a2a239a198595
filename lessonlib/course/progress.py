"""The learner's state: hint counters and the last check of each lesson (a cache).

Stored as one small JSON file, written atomically. Deleting it loses only the hint
counters: check results are recomputed from the exercises files when missing or stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

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


def record_check(lesson_id: str, digest: str, statuses: dict[str, str], earned: int) -> None:
    state = load_state()
    state["checks"][lesson_id] = {"digest": digest, "statuses": statuses, "earned": earned}
    save_state(state)


def cached_check(lesson_id: str, digest: str) -> dict[str, Any] | None:
    """The recorded check of a lesson if its exercises file is unchanged since."""
    entry = load_state()["checks"].get(lesson_id)
    if entry and entry.get("digest") == digest:
        return entry
    return None
