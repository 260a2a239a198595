"""Run a lesson once, through a Jupyter kernel; keep the executed notebook in ``build/<id>/``.

The run streams the lesson's output to the terminal (or to ``build/<id>/run.log``) while it
happens, and writes ``build/<id>/<slug>.ipynb`` with every output and figure embedded. The
docs site renders that notebook as it is: a lesson runs once for both. The notebook records
a digest of what it was made from (lesson.py, meta.toml, the lessonlib modules it imports), so
the site re-runs a lesson only when one of those changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from lessonlib.course.catalog import Lesson
from lessonlib.paths import build_dir, project_root

# Bump when the way a lesson is executed changes (kernel set-up, what the notebook holds).
RUNNER_VERSION = "1"


@dataclass
class RunResult:
    """What a lesson run did: exit code, seconds, files written, its log and its notebook."""

    lesson: Lesson
    returncode: int
    seconds: float
    artifacts: list[Path] = field(default_factory=list)
    log: Path | None = None
    notebook: Path | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def lesson_env(threads: int | None = None) -> dict[str, str]:
    """The environment lessons run with: unbuffered output, the course root, quiet warnings.

    MPLBACKEND is left unset so the kernel uses matplotlib's inline backend (figures embed).
    ``threads`` caps the kernel's CPU threads (OpenMP, MKL: torch's intra-op pool) unless the
    caller's environment already sets them: lessons running side by side share the CPUs.
    """
    env = dict(os.environ)
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(name, str(threads))
    env.pop("MPLBACKEND", None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["LESSONLIB_ROOT"] = str(project_root())
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return env


def _package() -> Path:
    return Path(__file__).resolve().parents[1]


def _lessonlib_imports(path: Path) -> set[Path]:
    """The lessonlib modules ``path`` imports directly (as files of the package)."""
    import ast

    package = _package()
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return set()
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    found = set()
    for name in names:
        parts = name.split(".")
        if parts[0] != "lessonlib":
            continue
        base = package.joinpath(*parts[1:])
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                found.add(candidate)
    return found


def imported_library_files(*sources: Path) -> list[Path]:
    """The lessonlib files ``sources`` import, transitively (and the package's __init__)."""
    seen: set[Path] = {_package() / "__init__.py"}
    todo = list(sources)
    while todo:
        for module in _lessonlib_imports(todo.pop()) - seen:
            seen.add(module)
            todo.append(module)
    return sorted(seen)


def library_files(lesson: Lesson) -> list[Path]:
    """The library files a lesson runs: what it imports from lessonlib, transitively."""
    return imported_library_files(lesson.script)


def sources_digest(lesson: Lesson) -> str:
    """What an executed notebook depends on: lesson.py, meta.toml, the lessonlib modules it
    imports (transitively) and the runner itself."""
    digest = hashlib.sha256(f"runner {RUNNER_VERSION}\0".encode())
    package = _package()
    for path in library_files(lesson):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    for path in (lesson.script, lesson.path / "meta.toml"):
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def notebook_path(lesson: Lesson) -> Path:
    """Where the executed notebook of ``lesson`` lives: ``build/<id>/<slug>.ipynb``."""
    return build_dir(lesson.id) / f"{lesson.slug}.ipynb"


def notebook_is_current(lesson: Lesson) -> bool:
    """Whether ``build/<id>/<slug>.ipynb`` was executed from the lesson's current sources."""
    import json

    path = notebook_path(lesson)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("lessonlib", {})
    except (OSError, ValueError, KeyError, AttributeError):
        return False
    return meta.get("sources") == sources_digest(lesson)


def _written_since(folder: Path, since: float, skip: set[str]) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.stat().st_mtime >= since and p.name not in skip
    )


def _client_class():
    from nbclient import NotebookClient

    class StreamingClient(NotebookClient):
        """Echo each output the moment the kernel sends it, as ``python lesson.py`` would."""

        echo: TextIO | None = None
        plain = False  # a log file: no terminal colour codes
        sockets: str | None = None  # talk to the kernel over Unix sockets with this prefix

        def create_kernel_manager(self):
            km = super().create_kernel_manager()
            if self.sockets:
                km.transport, km.ip = "ipc", self.sockets
            return km

        def output(self, outs, msg, display_id, cell_index):
            out = super().output(outs, msg, display_id, cell_index)
            if self.echo is not None and out is not None:
                _echo(self.echo, out, self.plain)
            return out

    return StreamingClient


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _echo(stream: TextIO, out, plain: bool = False) -> None:
    if plain:  # tracebacks come coloured from the kernel: the log is read in an editor
        stream = _Plain(stream)
    kind = out.get("output_type")
    if kind == "stream":
        stream.write(out.get("text", ""))
    elif kind in ("execute_result", "display_data"):
        data = out.get("data", {})
        if "text/plain" in data and not any(k.startswith("image/") for k in data):
            stream.write(str(data["text/plain"]).rstrip("\n") + "\n")
        elif any(k.startswith("image/") for k in data):
            stream.write("[figure]\n")
    elif kind == "error":
        stream.write("\n".join(out.get("traceback", [])) + "\n")
    stream.flush()


class _Plain:
    """A text stream that drops ANSI colour codes on the way through."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(_ANSI.sub("", text))

    def flush(self) -> None:
        self.stream.flush()


@contextlib.contextmanager
def _socket_folder():
    """A private folder for the kernel's Unix sockets (``None`` where its path is too long).

    Over TCP the kernel manager picks five free ports and closes them before the kernel binds
    them; any connection the machine opens meanwhile can take one, and the kernel dies before
    it answers (seen once in CI, two lessons starting side by side). Sockets in a folder of our
    own cannot be taken.
    """
    folder = tempfile.mkdtemp(prefix="lessonlib-kernel-")
    try:
        prefix = os.path.join(folder, "k")
        yield prefix if len(prefix) + 3 < 100 else None  # a Unix socket path holds 107 bytes
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_lesson(
    lesson: Lesson, *, capture: bool = False, timeout: float = 900, threads: int | None = None
) -> RunResult:
    """Execute ``lesson.py`` in a Jupyter kernel; stream its output, keep the notebook.

    With ``capture`` the output goes to ``build/<id>/run.log`` instead of the terminal.
    ``timeout`` bounds each cell. A failing lesson leaves no notebook behind (the site must
    not show a stale one) and puts the lesson's own error in ``RunResult.error``.
    """
    import jupytext
    import nbformat
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    out = build_dir(lesson.id)
    target = notebook_path(lesson)
    log = out / "run.log"
    digest = sources_digest(lesson)
    nb = jupytext.read(lesson.script, fmt="py:percent")
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata.pop("jupytext", None)
    start = time.time() - 1  # mtime granularity
    t0 = time.perf_counter()
    error = ""
    client = _client_class()(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=False,
        # The kernel's log: errors only (over TCP, the fallback, it warns at each start).
        # kernel_exit: the kernel leaves without freeing every module (1-2 s a lesson).
        extra_arguments=[
            "--IPKernelApp.log_level=ERROR",
            "--IPKernelApp.exec_lines=import lessonlib.course.kernel_exit",
        ],
        resources={"metadata": {"path": str(out)}},
    )
    with log.open("w", encoding="utf-8") as fh, _socket_folder() as sockets:
        client.echo = fh if capture else sys.stdout
        client.plain = capture
        client.sockets = sockets
        try:
            # Captured, the kernel's own stderr (C++ warnings of torch, …) goes to the log too.
            client.execute(env=lesson_env(threads), **({"stderr": fh} if capture else {}))
        except CellExecutionError as exc:
            error = f"{exc.ename}: {exc.evalue}"
            if capture:
                fh.write(f"\nlesson {lesson.id} failed: {error}\n")
        except (CellTimeoutError, DeadKernelError, RuntimeError) as exc:
            error = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            (fh if capture else sys.stderr).write(f"\nlesson {lesson.id} failed: {error}\n")
    seconds = time.perf_counter() - t0
    if error:
        target.unlink(missing_ok=True)
    else:
        nb.metadata["lessonlib"] = {
            "lesson": lesson.id,
            "sources": digest,
            "seconds": round(seconds, 1),
        }
        tmp = target.with_suffix(".ipynb.tmp")
        nbformat.write(nb, tmp)
        os.replace(tmp, target)
    if not capture and log.stat().st_size == 0:
        log.unlink()
    artifacts = _written_since(out, start, {"run.log", target.name})
    return RunResult(
        lesson,
        1 if error else 0,
        seconds,
        artifacts,
        log if capture else None,
        None if error else target,
        error,
    )


def expected_seconds(lesson: Lesson) -> float:
    """How long ``lesson`` ran last time (its notebook's record), else its meta.toml estimate."""
    import json

    try:
        meta = json.loads(notebook_path(lesson).read_text(encoding="utf-8"))["metadata"]
        return float(meta["lessonlib"]["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return float(lesson.run_seconds)


def default_jobs() -> int:
    """Lessons run at once by ``run --all`` and the site: two where there are two CPUs.

    The lessons are CPU-bound: two at a time on two cores run all nine and the site in
    99–114 s against 177 s one at a time, and three at a time were no faster.
    ``LESSONLIB_JOBS`` overrides it.
    """
    wanted = os.environ.get("LESSONLIB_JOBS", "").strip()
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
    return max(1, min(2, os.cpu_count() or 1))


def _run_captured(lesson: Lesson, threads: int | None = None) -> RunResult:
    return run_lesson(lesson, capture=True, threads=threads)


def run_lessons(
    lessons: list[Lesson],
    *,
    jobs: int | None = None,
    on_start: Callable[[Lesson], None] | None = None,
    on_done: Callable[[RunResult], None] | None = None,
    stop_on_failure: bool = False,
) -> list[RunResult]:
    """Run ``lessons`` (each output captured to its ``run.log``), ``jobs`` at a time.

    The longest lessons start first (``expected_seconds``), so that no long lesson is left
    to run alone at the end. Servers are safe side by side: Visdom, MLflow and Netron take a
    port the system hands out, and TensorBoard (from 6006 up) trusts only a server reporting
    its own log folder. ``on_start``/``on_done`` are called in this
    process as each lesson starts and ends. With ``stop_on_failure`` no lesson starts after
    one failed (those running finish). Returns the results in the order the lessons ended.
    """
    jobs = jobs or default_jobs()
    results: list[RunResult] = []
    if jobs <= 1 or len(lessons) <= 1:
        for lesson in lessons:
            if on_start:
                on_start(lesson)
            result = run_lesson(lesson, capture=True)
            results.append(result)
            if on_done:
                on_done(result)
            if stop_on_failure and not result.ok:
                break
        return results

    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pending = sorted(lessons, key=expected_seconds, reverse=True)
    threads = max(1, (os.cpu_count() or 1) // jobs)  # each lesson its share of the CPUs
    running: dict = {}
    failed = False
    # spawn, not fork: each worker starts clean instead of copying this process's threads.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        while running or (pending and not (failed and stop_on_failure)):
            while pending and len(running) < jobs and not (failed and stop_on_failure):
                lesson = pending.pop(0)
                if on_start:
                    on_start(lesson)
                running[pool.submit(_run_captured, lesson, threads)] = lesson
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                lesson = running.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # the worker itself died: report it as the lesson's
                    error = f"{type(exc).__name__}: {exc}"
                    result = RunResult(lesson, 1, 0.0, error=error)
                failed = failed or not result.ok
                results.append(result)
                if on_done:
                    on_done(result)
    return results
