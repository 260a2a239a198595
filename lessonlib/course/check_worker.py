"""A warm worker for ``lessonlib check``: torch is imported once, each check forks.

``import torch`` alone takes 2–3 s on a small laptop, so a cold ``pytest`` for every check
spends most of its time importing. The first ``lessonlib check`` starts this worker in the
background (its own session, stdout/stderr to /dev/null) and waits for it; every later check
connects to its unix socket and the worker forks a child that runs a lessonlib module's
``main`` (``lessonlib.course.checking``) with the requested arguments, working directory and
environment. The worker itself never imports the lessons' cases or anyone's exercises.py: each
child does, fresh, so an edited file is always the one checked.

The socket lives in a private folder (``/tmp/lessonlib-<uid>``, mode 0700) and its name
carries a fingerprint of the Python executable, lessonlib's sources and the venv's
site-packages folder: after an edit to lessonlib or a ``pip install``, a new worker starts and
the old one exits on its own when idle (``IDLE_S``). ``LESSONLIB_WARM_CHECK=0`` turns the
worker off; the check then runs in a plain subprocess, as it does whenever the worker fails.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

IDLE_S = float(os.environ.get("LESSONLIB_CHECK_WORKER_IDLE", "600"))
START_TIMEOUT_S = 120.0
BASE_PRELOAD = ("torch", "numpy", "lessonlib.classroom.grade_worker")
_MAX_REQUEST = 1 << 20


def enabled() -> bool:
    """Whether checks go through the warm worker (``LESSONLIB_WARM_CHECK=0`` turns it off)."""
    return os.environ.get("LESSONLIB_WARM_CHECK", "1") not in ("0", "false", "no", "")


def _fingerprint() -> str:
    """What the worker's imports depend on: the interpreter, lessonlib, installed packages."""
    digest = hashlib.sha256(sys.executable.encode())
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_mtime_ns}:{stat.st_size}".encode())
    purelib = Path(sysconfig.get_paths()["purelib"])
    with contextlib.suppress(OSError):
        digest.update(str(purelib.stat().st_mtime_ns).encode())
    return digest.hexdigest()[:16]


def _private_dir() -> Path:
    """``/tmp/lessonlib-<uid>``, created 0700, refused if someone else owns it."""
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"lessonlib-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if info.st_uid != os.getuid() or (info.st_mode & 0o077) or not folder.is_dir():
        raise OSError(f"{folder} is not a private folder of this user")
    return folder


def socket_path(project: Path) -> Path:
    """The worker socket for ``project`` (short: unix socket paths are limited to 107 bytes)."""
    key = hashlib.sha256(f"{project.resolve()}|{_fingerprint()}".encode()).hexdigest()[:20]
    path = _private_dir() / f"check-{key}.sock"
    if len(os.fsencode(path)) > 100:
        raise OSError(f"{path} is too long for a unix socket")
    return path


# Preloaded only if a lesson's tests import them: each starts at most the BLAS thread pool at
# import (fork-safe); onnxruntime and scikit-learn start more threads and are left to the child.
PRELOADABLE = frozenset(
    "torch torchvision numpy pytest networkx pydot torchviz torchview torchinfo matplotlib "
    "pandas captum tbparse onnx".split()
)


def third_party_imports(files: list[Path]) -> list[str]:
    """Preloadable modules that the case files import, following the references they use."""
    references = Path(__file__).resolve().parents[1] / "classroom" / "references"
    prefix = "lessonlib.classroom.references."
    names: set[str] = set()
    queue, seen = list(files), set()
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        try:
            tree = ast.parse(path.read_bytes())
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found = [node.module]
            else:
                continue
            for name in found:
                if name.startswith(prefix):
                    queue.append(references / (name[len(prefix) :].split(".")[0] + ".py"))
                elif name.split(".")[0] in PRELOADABLE:
                    names.add(name.split(".")[0])
    return sorted(names)


# ---------------------------------------------------------------- client


def run_module(
    module: str,
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    preload: list[str] | tuple[str, ...] = (),
) -> int:
    """Run ``module.main(argv)`` in a fork of the warm worker; its exit code.

    Raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds (the child is killed) and
    ``OSError`` when no worker can be reached or started (the caller falls back).
    """
    path = socket_path(cwd)
    deadline = time.monotonic() + timeout
    sock = _connect(path) or _start_and_connect(path, cwd)
    with sock:
        request = {
            "module": module,
            "argv": argv,
            "cwd": str(cwd),
            "env": env,
            "preload": list(preload),
        }
        sock.sendall(json.dumps(request).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(argv, timeout)  # closing the socket kills it
            sock.settimeout(left)
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                raise subprocess.TimeoutExpired(argv, timeout) from None
            if not chunk:
                raise OSError("the check worker closed the connection")
            reply += chunk
    return int(json.loads(reply)["rc"])


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


def _start_and_connect(path: Path, project: Path) -> socket.socket:
    worker = subprocess.Popen(
        [sys.executable, "-m", "lessonlib.course.check_worker", str(path)],
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        sock = _connect(path)
        if sock is not None:
            return sock
        # Ours may have exited because another worker won the lock: wait only while one lives.
        if worker.poll() is not None and not _lock_holder_alive(path):
            break
        time.sleep(0.05)
    raise OSError("the check worker did not start")


def _lock_holder_alive(path: Path) -> bool:
    """Whether some worker holds ``path``'s lock (is starting or serving)."""
    try:
        with open(f"{path}.lock") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
    except BlockingIOError:
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- worker


def _preload(names: list[str] | tuple[str, ...]) -> None:
    for name in names:
        if name not in sys.modules:
            with contextlib.suppress(Exception):
                __import__(name)


def serve(path: Path) -> None:
    """Bind ``path``, then fork a handler per request until idle for ``IDLE_S`` seconds."""
    lock = open(f"{path}.lock", "a")  # noqa: SIM115 - held for the worker's whole life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another worker for this socket is alive or starting
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so `finally` removes the socket
    signal.signal(signal.SIGCHLD, _reap)
    os.environ.setdefault("MPLBACKEND", "Agg")
    _preload(BASE_PRELOAD)  # before listening: the first client waits for a warm worker
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        server.bind(str(path))
    finally:
        os.umask(old_umask)
    server.listen(8)
    server.settimeout(IDLE_S)
    try:
        while True:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                return
            with conn:
                preload = _handle(conn, server)
            _preload(preload)  # what this lesson's tests import is warm for the next check
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


def _handle(conn: socket.socket, server: socket.socket) -> list[str]:
    conn.settimeout(10)
    data = b""
    try:
        while not data.endswith(b"\n") and len(data) < _MAX_REQUEST:
            chunk = conn.recv(65536)
            if not chunk:
                return []
            data += chunk
        request = json.loads(data)
    except (OSError, ValueError):
        return []
    # A handler process per request, so that checks run side by side (``progress`` asks for
    # two at a time): it forks the check itself, waits for it (or kills it when the client
    # goes away) and answers; this loop goes straight back to accept() and reaps handlers.
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            server.close()
            check = os.fork()
            if check == 0:
                conn.close()
                os._exit(_child(request))
            rc = _wait_or_kill(check, conn)
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"rc": rc}).encode() + b"\n")
            code = 0
        finally:
            os._exit(code)
    return [n for n in request.get("preload", []) if isinstance(n, str)]


def _reap(*_: object) -> None:
    """Collect every handler that has finished (SIGCHLD), so none lingers as a zombie."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _wait_or_kill(pid: int, conn: socket.socket) -> int:
    """Wait for the child; kill its process group if the client goes away first."""
    pidfd = os.pidfd_open(pid)
    try:
        while True:
            ready, _, _ = select.select([pidfd, conn], [], [])
            if pidfd in ready:
                break
            if conn in ready:  # the client timed out or was interrupted
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                break
    finally:
        os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _child(request: dict) -> int:
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setpgid(0, 0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = request["cwd"]
        sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
        module = request.get("module", "")
        if not module.startswith("lessonlib."):
            return 2
        sys.argv = [module, *request["argv"]]
        import importlib

        return int(importlib.import_module(module).main(request["argv"]) or 0)
    except BaseException:  # noqa: BLE001 - whatever happens, the child only reports a code
        return 3


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
