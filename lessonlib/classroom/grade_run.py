"""``lessonlib grade``: grade a folder of submissions with a pool of warm graders.

Per-student result files are the source of truth: each is written atomically as soon as the
student is graded, and a rerun reuses every result whose submission and grading files are
unchanged, so a run killed at any point (even ``kill -9``) resumes and ends with the same
files as an uninterrupted run. ``grades.csv`` and the feedback pages are rebuilt from them.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import queue
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lessonlib.classroom.confine import Limits
from lessonlib.classroom.grading import case_file, grading_digest
from lessonlib.classroom.records import (
    CRASHED,
    RESULTS_FORMAT,
    TIMED_OUT,
    CaseOutcome,
    RunProblem,
    Summary,
    csv_header,
    csv_row,
    feedback_markdown,
    make_record,
    record_details,
    summarise,
)
from lessonlib.classroom.submissions import Submission, find_submissions
from lessonlib.course.catalog import Lesson, find_lesson
from lessonlib.errors import LessonlibError
from lessonlib.paths import project_root

STARTUP_TIMEOUT_S = 600.0
CHECK_ALLOWANCE_S = 120.0


def run_uid_base(pid: int | None = None) -> int:
    """The first sandbox uid of this grading run: its own block of 2048 uids.

    RLIMIT_NPROC counts the processes of a uid machine-wide, so two grading runs at once
    must not share sandbox uids (nor sweep each other's processes).
    """
    from lessonlib.classroom.confine import SANDBOX_UID_BASE

    return SANDBOX_UID_BASE + ((pid or os.getpid()) % 500_000) * 2048


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _record_text(record: dict) -> str:
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"


def _cached(path: Path, sub: Submission, lesson: Lesson, grading_sha: str) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        info = record_details(record)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    same = (
        info.get("format") == RESULTS_FORMAT
        and info.get("student") == sub.student
        and info.get("lesson") == lesson.id
        and info.get("source_sha256") == sub.digest
        and info.get("grading_sha256") == grading_sha
    )
    return record if same else None


# ---------------------------------------------------------------- grader processes


class _GraderProcess:
    """One ``lessonlib.classroom.grade_worker`` process and its JSON-lines pipe."""

    def __init__(self, config: dict, scratch: Path) -> None:
        self.config = config
        self.scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": str(scratch),
            "TMPDIR": str(scratch),
            "PYTHONHASHSEED": "0",
            "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "LESSONLIB_ROOT": config["root"],
        }
        if os.environ.get("LESSONLIB_BUILD"):
            env["LESSONLIB_BUILD"] = os.environ["LESSONLIB_BUILD"]
        self.log = open(scratch / "grader.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "lessonlib.classroom.grade_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            cwd=scratch,
            start_new_session=True,
        )
        self._buffer = b""
        self.send(config)

    def send(self, message: dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def receive(self, timeout: float) -> dict | None:
        """The next message, or None when the grader died or ``timeout`` passed."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return None
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def log_tail(self) -> str:
        try:
            text = (self.scratch / "grader.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " ".join(text.strip().splitlines()[-3:])[-400:]

    def stop(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        self.log.close()

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()


@dataclass
class _Pool:
    """Threads that each own a grader, take students from a queue and put back replies."""

    base_config: dict
    scratch: Path
    jobs: int
    task_timeout: float
    tasks: queue.Queue = field(default_factory=queue.Queue)
    replies: queue.Queue = field(default_factory=queue.Queue)
    isolation: dict | None = None
    threads: list[threading.Thread] = field(default_factory=list)
    graders: dict[int, _GraderProcess] = field(default_factory=dict)
    stopping: bool = False

    def start(self) -> None:
        for slot in range(self.jobs):
            thread = threading.Thread(target=self._serve, args=(slot,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _spawn(self, slot: int) -> _GraderProcess | str:
        config = dict(self.base_config, slot=slot, scratch=str(self.scratch / f"slot{slot}"))
        grader = _GraderProcess(config, self.scratch / f"slot{slot}")
        self.graders[slot] = grader
        hello = grader.receive(STARTUP_TIMEOUT_S)
        if not hello or not hello.get("ready"):
            reason = (hello or {}).get("error") or grader.log_tail() or "it did not start"
            grader.kill()
            return f"a grader process failed to start: {reason}"
        if self.isolation is None:
            self.isolation = hello.get("isolation")
        return grader

    def _serve(self, slot: int) -> None:
        grader: _GraderProcess | str | None = None
        while not self.stopping:
            sub = self.tasks.get()
            if sub is None:
                break
            reply = None
            for attempt in range(2):
                if grader is None:
                    grader = self._spawn(slot)
                    if isinstance(grader, str):
                        self.replies.put(("error", grader))
                        return
                try:
                    grader.send(
                        {
                            "student": sub.stem,
                            "source": base64.b64encode(sub.source).decode("ascii"),
                        }
                    )
                    reply = grader.receive(self.task_timeout)
                except OSError:
                    reply = None
                if reply is not None:
                    break
                timed_out = grader.proc.poll() is None
                grader.kill()
                grader = None
                if timed_out:
                    reply = {
                        "problem": asdict(
                            RunProblem(
                                TIMED_OUT,
                                "grading this submission did not finish in time (its checks "
                                "ran too long); ask your teacher to look at it.",
                            )
                        ),
                        "outcomes": [],
                        "output": [],
                    }
                    break
                if attempt == 1:
                    reply = {
                        "problem": asdict(
                            RunProblem(
                                CRASHED,
                                "the grader failed on this submission twice; ask your "
                                "teacher to look at it.",
                            )
                        ),
                        "outcomes": [],
                        "output": [],
                    }
            self.replies.put((sub, reply))
        if isinstance(grader, _GraderProcess):
            grader.stop()

    def close(self) -> None:
        self.stopping = True
        for _ in self.threads:
            self.tasks.put(None)
        for thread in self.threads:
            thread.join(timeout=15)
        for grader in list(self.graders.values()):
            if grader.proc.poll() is None:
                grader.kill()


# ---------------------------------------------------------------- the command's work


@dataclass
class GradeReport:
    """What ``grade`` did: the records (in student order), the class summary, the sandbox."""

    lesson: Lesson
    records: list[dict]
    summary: Summary
    isolation: dict | None
    graded: int
    reused: int
    seconds: float
    out_dir: Path


def _check_folders(subs_dir: Path, out_dir: Path, root: Path) -> None:
    subs_dir, out_dir = subs_dir.resolve(), out_dir.resolve()
    if out_dir == subs_dir or out_dir.is_relative_to(subs_dir):
        raise LessonlibError(
            "--out must not be inside the submissions folder; pick another folder."
        )
    for private in ("lessons", "solutions", "tests", "lessonlib"):
        if out_dir.is_relative_to(root / private):
            raise LessonlibError(f"--out must not be inside the course's {private}/ folder.")


SCRATCH_PREFIXES = ("lessonlib-grade-", "lessonlib-work-")


def mark_scratch(folder: Path) -> None:
    """Record which process owns a scratch folder, so a later run can clear it after kill -9."""
    (folder / "owner.pid").write_text(str(os.getpid()))


def sweep_stale_scratch() -> None:
    """Remove scratch folders left by grading runs that were killed."""
    bases = {Path(tempfile.gettempdir()), Path("/tmp")}
    for folder in [f for base in bases if base.is_dir() for f in base.iterdir()]:
        if not folder.name.startswith(SCRATCH_PREFIXES) or folder.is_symlink():
            continue
        try:
            os.kill(int((folder / "owner.pid").read_text()), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):
            continue


def _clean_partial_writes(*folders: Path) -> None:
    for folder in folders:
        for stale in folder.glob(".*.tmp-*"):
            stale.unlink(missing_ok=True)


def write_gradebook(out_dir: Path, lesson: Lesson, records: list[dict]) -> None:
    """grades.csv, one row per student in student order."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(csv_header(lesson))
    for record in records:
        writer.writerow(csv_row(record))
    write_atomic(out_dir / "grades.csv", text.getvalue())


def grade(
    submissions: Path,
    lesson_id: str,
    out_dir: Path,
    *,
    jobs: int | None = None,
    timeout: float = 30.0,
    memory_mb: int = 2048,
    regrade: bool = False,
    visible_only: bool = False,
    on_start: Callable[[int, int], None] | None = None,
    on_progress: Callable[[dict], None] | None = None,
) -> GradeReport:
    """Grade every submission in ``submissions`` for ``lesson_id``; write into ``out_dir``.

    ``visible_only`` scores the cases students see (``lessons/NN_x/checks.py``) and leaves
    out ``solutions/NN_x/hidden.py`` (what GitHub Classroom's workflow does).
    """
    started = time.monotonic()
    root = project_root()
    lesson = find_lesson(lesson_id)
    if not case_file(lesson).is_file():
        raise LessonlibError(
            f"lesson {lesson.id} has no cases yet: write lessons/{lesson.slug}/checks.py "
            "(the teacher's guide shows the format)."
        )
    if timeout <= 0:
        raise LessonlibError("--timeout must be a positive number of seconds.")
    submissions, out_dir = Path(submissions), Path(out_dir)
    subs = find_submissions(submissions, lesson)
    if not subs:
        raise LessonlibError(
            f"{submissions} holds no submissions: put one folder (or .zip) per student in it."
        )
    _check_folders(submissions, out_dir, root)
    results_dir, feedback_dir = out_dir / "results", out_dir / "feedback"
    results_dir.mkdir(parents=True, exist_ok=True)
    feedback_dir.mkdir(parents=True, exist_ok=True)
    _clean_partial_writes(out_dir, results_dir, feedback_dir)
    grading_sha = grading_digest(lesson) + ("-visible" if visible_only else "")
    records: dict[str, dict] = {}
    pending: list[Submission] = []
    reused = 0
    for sub in subs:
        path = results_dir / f"{sub.stem}.json"
        cached = None if regrade else _cached(path, sub, lesson, grading_sha)
        if cached is not None:
            records[sub.stem] = cached
            reused += 1
        elif sub.status:
            records[sub.stem] = make_record(lesson, sub, grading_sha)
            write_atomic(path, _record_text(records[sub.stem]))
        else:
            pending.append(sub)
    if on_start:
        on_start(len(subs), len(subs) - len(pending))
    isolation = None
    if pending:
        jobs = max(1, min(jobs or (os.cpu_count() or 1), len(pending), 16))
        limits = Limits(
            wall_seconds=timeout, cpu_seconds=int(timeout) + 1, memory_bytes=memory_mb * 2**20
        )
        sweep_stale_scratch()
        with tempfile.TemporaryDirectory(prefix="lessonlib-grade-") as scratch:
            mark_scratch(Path(scratch))
            base = {
                "lesson": lesson.id,
                "root": str(root),
                "timeout": timeout,
                "limits": asdict(limits),
                "namespaces": os.environ.get("LESSONLIB_SANDBOX_NAMESPACES", "auto"),
                "uid": run_uid_base(),
                "hide": [str(root), str(submissions.resolve()), str(out_dir.resolve()), scratch],
                "hidden": not visible_only,
            }
            pool = _Pool(base, Path(scratch), jobs, timeout + CHECK_ALLOWANCE_S)
            for sub in pending:
                pool.tasks.put(sub)
            pool.start()
            try:
                for _ in pending:
                    sub, reply = pool.replies.get()
                    if sub == "error":
                        raise LessonlibError(str(reply))
                    outcomes = [CaseOutcome(**o) for o in reply["outcomes"]]
                    problem = RunProblem(**reply["problem"]) if reply.get("problem") else None
                    record = make_record(
                        lesson, sub, grading_sha, outcomes, problem, reply.get("output")
                    )
                    write_atomic(results_dir / f"{sub.stem}.json", _record_text(record))
                    write_atomic(feedback_dir / f"{sub.stem}.md", feedback_markdown(record, lesson))
                    records[sub.stem] = record
                    if on_progress:
                        on_progress(record)
            finally:
                pool.close()
                isolation = pool.isolation
    ordered = [records[s.stem] for s in subs]
    for sub in subs:
        write_atomic(feedback_dir / f"{sub.stem}.md", feedback_markdown(records[sub.stem], lesson))
    write_gradebook(out_dir, lesson, ordered)
    return GradeReport(
        lesson,
        ordered,
        summarise(ordered, lesson),
        isolation,
        len(pending),
        reused,
        time.monotonic() - started,
        out_dir,
    )
