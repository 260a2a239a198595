"""The web plumbing the course's servers and browser code share.

Local servers in child processes (free ports, readiness checks, clean stops) and headless
chromium (the system binary, via Playwright) for screenshots of their pages.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from lessonlib.errors import LessonlibError


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Can a server bind ``host:port`` right now?"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as servers do: a port whose old connections linger in TIME_WAIT counts as free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(start: int | None = None, host: str = "127.0.0.1", tries: int = 200) -> int:
    """``start`` if free, else the next free port above it; with no ``start``, any free port."""
    if start is None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            return sock.getsockname()[1]
    for port in range(start, min(start + tries, 65536)):
        if port_is_free(port, host):
            return port
    raise LessonlibError(
        f"no free port in {start}–{start + tries - 1}: stop some servers or pick another --port."
    )


def answers(url: str, timeout: float = 0.5) -> bool:
    """Does an HTTP server answer ``GET url`` with a 2xx status?"""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class Server:
    """A server process we started: its URL, and ``stop()`` (also on leaving a ``with``)."""

    url: str
    port: int
    process: subprocess.Popen
    log: Path
    env_path: Path | None = None
    started_in: float = 0.0
    _stopped: bool = field(default=False, repr=False)

    def running(self) -> bool:
        return not self._stopped and self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait for it to exit."""
        if self._stopped:
            return
        self._stopped = True
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            if self.process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(wait)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, so no server outlives its owner.

    (Linux ties this to the thread that started the child: start servers from a thread
    that lives as long as you need them, e.g. the main thread.)
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def launch(
    cmd: list[str],
    port: int,
    log: Path,
    *,
    name: str,
    timeout: float = 10.0,
    cwd: Path | None = None,
) -> Server:
    """Start ``cmd`` (a server that will listen on 127.0.0.1:``port``) and wait until it answers.

    Its output goes to ``log``. If it exits first, or does not answer within ``timeout``
    seconds, raise a LessonlibError naming ``name`` and the log's last line.
    """
    url = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        process = subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    server = Server(url, port, process, log)
    while time.perf_counter() - t0 < timeout:
        if process.poll() is not None:
            lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            why = f" ({lines[-1].strip()})" if lines else ""
            raise LessonlibError(f"the {name} server exited at start{why}; its log is {log}.")
        if answers(url + "/"):
            server.started_in = time.perf_counter() - t0
            return server
        time.sleep(0.05)
    server.stop()
    raise LessonlibError(f"the {name} server did not answer within {timeout:.0f} s; see {log}.")


# ---------------------------------------------------------------- headless chromium

T = TypeVar("T")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """The system chromium (``LESSONLIB_CHROMIUM`` overrides), or None when there is none."""
    env = os.environ.get("LESSONLIB_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def outside_event_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` here, or in a worker thread when this thread runs an asyncio loop.

    Playwright's sync API refuses to run inside a running event loop, which is where a
    Jupyter kernel (and so the docs build) executes a lesson's code.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


@contextlib.contextmanager
def local_page(
    url: str, width: int = 1280, height: int = 800, **context_options: Any
) -> Iterator[Any]:
    """A Playwright page (not yet navigated) whose requests to any host but ``url``'s are refused.

    Yields ``(context, page)``; the browser closes on exit. Blocking other hosts keeps
    screenshots identical offline and online, and fast: nothing waits on a network timeout.
    """
    exe = chromium_path()
    if exe is None:
        raise LessonlibError(
            "no chromium found for screenshots: install it with 'sudo apt-get install chromium'."
        )
    from playwright.sync_api import sync_playwright

    host = urlparse(url).hostname
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": width, "height": height}, **context_options
            )
            context.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if urlparse(route.request.url).hostname in (host, None)
                    or route.request.url.startswith("data:")
                    else route.abort()
                ),
            )
            yield context, context.new_page()
        finally:
            browser.close()
