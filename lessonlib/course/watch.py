"""``lessonlib watch``: re-check a lesson each time its exercises.py is saved (like rustlings).

Plain terminal I/O, so it works the same over SSH: the files are polled (no inotify or GUI
needed), keys are read from the terminal in cbreak mode (``h`` the next hint for the exercise
shown, ``c`` check again, ``q`` quit), and the screen is redrawn with ANSI codes after each
check. A file saved half-way (a syntax error, an editor's rename) shows as such and the watch
goes on; the next save is checked as usual.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from lessonlib.course.catalog import Lesson
from lessonlib.errors import LessonlibError

POLL_S = 0.1
MARKS = {"passed": ("✓", "green"), "not started": ("·", "yellow")}


@dataclass
class Watched:
    """One lesson's exercises file and what was last seen of it."""

    lesson: Lesson
    path: Path
    stat: tuple = ()
    digest: str = ""


def _stat(path: Path) -> tuple:
    try:
        st = path.stat()
    except OSError:
        return ()
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def first_unfinished(report) -> Any | None:
    """The exercise to work on: the first that failed (begun, so its message is what the
    learner needs after a save, even with an earlier one not started), else the first not
    started; None when all passed."""
    unfinished = [r for r in report.results if str(r.status) != "passed"]
    failed = [r for r in unfinished if str(r.status) != "not started"]
    return (failed or unfinished or [None])[0]


def render(report, console, *, root_label: str, hint: tuple[str, str] | None = None) -> None:
    """Draw one verdict screen: the lesson's exercises, the first unfinished one, the keys."""
    from rich.markup import escape

    lesson = report.lesson
    console.print(f"[bold]lessonlib watch[/] — lesson {lesson.id}: {escape(lesson.title)}")
    console.print(f"[dim]{escape(root_label)}[/]\n")
    for res in report.results:
        mark, colour = MARKS.get(str(res.status), ("✗", "red"))
        console.print(
            f"  [{colour}]{mark} {res.id}[/] {escape(res.title)}  [{colour}]{res.status}[/]"
            f"  {res.earned}/{res.points}"
        )
    nxt = first_unfinished(report)
    console.print()
    if report.problem:
        console.print(report.problem, style="red", markup=False)
    elif nxt is None:
        console.print(
            f"[green]✓ lesson {lesson.id} done: {report.earned}/{report.total} points.[/]"
        )
    else:
        console.print(f"[bold]Next: {nxt.id} — {escape(nxt.title)}[/] ({nxt.status})")
        if nxt.message:
            console.print("  " + nxt.message, markup=False)
    if hint is not None:
        console.print()
        console.print(hint[0], style="bold", markup=False)
        console.print(hint[1], markup=False)
    keys = "h: next hint for " + nxt.id + " · " if nxt is not None else ""
    console.print(f"\n[dim]{keys}c: check again · q: quit — save the file to re-check[/]")


@contextlib.contextmanager
def _cbreak(stream: TextIO) -> Iterator[bool]:
    """Single-key input from a terminal; yields whether keys can be read at all."""
    try:
        fd = stream.fileno()
        interactive = os.isatty(fd)
    except (AttributeError, OSError, ValueError):
        interactive = False
    if not interactive:
        yield False
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read_key(stream: TextIO, timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        return ""
    return os.read(stream.fileno(), 1).decode(errors="ignore")


def watch(
    lessons: list[Lesson],
    start: Lesson,
    lesson_root: Path | None = None,
    *,
    keys_from: TextIO | None = None,
    console=None,
    record: bool = True,
    max_seconds: float | None = None,
) -> None:
    """Check ``start`` now, then re-check whichever lesson's exercises.py is saved, until ``q``.

    ``lesson_root`` is the folder holding the lessons' exercises (default: the course's
    lessons/). Verdicts are recorded for ``lessonlib progress`` when ``record`` is set and the
    files are the course's own.
    """
    from rich.console import Console

    from lessonlib.course.checking import check_lesson, locate_exercises
    from lessonlib.course.progress import file_digest, next_hint, record_check
    from lessonlib.paths import project_root

    console = console or Console(highlight=False)
    root = Path(lesson_root) if lesson_root else project_root() / "lessons"
    watched = {x.id: Watched(x, locate_exercises(root, x)) for x in lessons}
    keys_from = keys_from if keys_from is not None else sys.stdin
    current = watched[start.id]
    deadline = None if max_seconds is None else time.monotonic() + max_seconds

    def label(item: Watched) -> str:
        shown = os.path.relpath(item.path) if item.path.is_absolute() else str(item.path)
        return f"watching {shown}"

    def check(item: Watched) -> Any:
        item.stat = _stat(item.path)
        item.digest = _digest(item.path)
        console.clear()
        console.print(f"[dim]checking lesson {item.lesson.id} …[/]")
        t0 = time.perf_counter()
        try:
            report = check_lesson(item.lesson, root, warm=True)
        except LessonlibError as exc:
            problem = str(exc)
        except Exception as exc:  # noqa: BLE001 - the watch outlives any one failed check
            problem = f"the check itself failed ({type(exc).__name__}: {exc})"
        else:
            problem = ""
        if problem:
            console.clear()
            console.print(f"lesson {item.lesson.id}: {problem}", style="red", markup=False)
            console.print("[dim]waiting for the next save · c: check again · q: quit[/]")
            return None
        with console:  # one write per screen: a terminal never shows half a verdict
            console.clear()
            render(report, console, root_label=f"{label(item)} · {time.perf_counter() - t0:.1f} s")
        if record and lesson_root is None and file_digest(item.path) == item.digest:
            with contextlib.suppress(OSError):
                record_check(item.lesson.id, item.digest, report.statuses(), report.earned)
        return report

    for item in watched.values():
        item.stat, item.digest = _stat(item.path), _digest(item.path)
    report = check(current)
    pending: dict[str, tuple] = {}
    with _cbreak(keys_from) as interactive:
        while deadline is None or time.monotonic() < deadline:
            key = _read_key(keys_from, POLL_S) if interactive else ""
            if not interactive:
                time.sleep(POLL_S)
            if key in ("q", "Q", "\x04"):
                break
            if key in ("c", "C", "r"):
                report = check(current)
                continue
            if key in ("h", "H") and report is not None:
                nxt = first_unfinished(report)
                if nxt is not None:
                    ex = next(e for e in current.lesson.exercises if e.id == nxt.id)
                    number, text, last = next_hint(ex.id, ex.hints)
                    if last:
                        from lessonlib.course.progress import LAST_HINT
                        from lessonlib.messages import _

                        text += "\n\n" + _(LAST_HINT)
                    with console:
                        console.clear()
                        render(
                            report,
                            console,
                            root_label=label(current),
                            hint=(f"{ex.id} — hint {number}/{len(ex.hints)}", text),
                        )
                continue
            for item in watched.values():
                now = _stat(item.path)
                if not now or now == item.stat:
                    pending.pop(item.lesson.id, None)
                    continue
                # Wait until the file stops changing for one poll (an editor mid-write).
                if pending.get(item.lesson.id) != now:
                    pending[item.lesson.id] = now
                    continue
                pending.pop(item.lesson.id, None)
                if _digest(item.path) == item.digest:
                    item.stat = now
                    continue
                current = item
                report = check(item)
                break
