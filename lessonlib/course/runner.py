"""Run a lesson script in its own process; everything it writes lands in ``build/<id>/``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lessonlib.course.catalog import Lesson
from lessonlib.paths import build_dir, project_root


@dataclass
class RunResult:
    """What a lesson run did: exit code, seconds, files written, and its log."""

    lesson: Lesson
    returncode: int
    seconds: float
    artifacts: list[Path] = field(default_factory=list)
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def lesson_env() -> dict[str, str]:
    """The environment lesson scripts run with: headless plotting, unbuffered output."""
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["LESSONLIB_ROOT"] = str(project_root())
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return env


def _written_since(folder: Path, since: float) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.stat().st_mtime >= since and p.name != "run.log"
    )


def run_lesson(lesson: Lesson, *, capture: bool = False, timeout: float = 900) -> RunResult:
    """Run ``lesson.py``; stream its output, or capture it into ``build/<id>/run.log``."""
    out = build_dir(lesson.id)
    log = out / "run.log"
    start = time.time() - 1  # mtime granularity
    t0 = time.perf_counter()
    cmd = [sys.executable, str(lesson.script)]
    if capture:
        with log.open("w", encoding="utf-8") as fh:
            proc = subprocess.run(
                cmd,
                cwd=out,
                env=lesson_env(),
                stdout=fh,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
    else:
        proc = subprocess.run(cmd, cwd=out, env=lesson_env(), timeout=timeout, check=False)
    seconds = time.perf_counter() - t0
    return RunResult(
        lesson, proc.returncode, seconds, _written_since(out, start), log if capture else None
    )
