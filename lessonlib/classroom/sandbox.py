"""Run untrusted exercise code in a throwaway, resource-limited sandbox forked from a warm process.

Process tree, per grading job (``lessonlib.classroom.grade_worker`` is the grader):

    grader ──── zygote ──┬── sandbox (one per submission; pid 1 of its own pid namespace)
    (checks)    (torch   │   own mount/net/ipc/uts namespaces, rlimits, unprivileged uid,
                imported)│   scrubbed env, tmpfs work dir, instructor files hidden
                         └── service (only for a case that names one: a fresh server)

* The **zygote** is forked from the grader right after ``import torch`` and before the
  grader loads any checker or sees any student's data, so nothing forked from it holds
  either. It builds every case's inputs once (trusted builders, full file view). Per
  submission it calls ``unshare(CLONE_NEWPID)``, forks (the child is pid 1 of a fresh pid
  namespace, with pristine copy-on-write inputs), and ``setns`` back; it watches the child
  through a pidfd and kills it when the grader asks, so no pid can be recycled under the
  grader's feet. Killing pid 1 of a pid namespace kills every process in it: a fork bomb
  cannot outlive its submission.
* The **sandbox** child starts a new session, unshares mount/net/ipc/uts namespaces,
  hides the instructor's files behind empty read-only tmpfs mounts (every top-level folder
  but the system ones), makes every other mount read-only, mounts a fresh
  ``/proc``, sets rlimits, drops to an unprivileged uid (or, without root, drops every
  capability inside a user namespace), clears the environment, then compiles and imports
  the student's file and calls its functions, writing one JSON line per event to fd 3.
  The grader decodes those lines with ``lessonlib.classroom.plaindata``; nothing the
  sandbox says is a verdict. ``/dev/shm`` is a private, empty tmpfs; a case's ``InputFile``
  is written into the work dir just before its call.
* A **service** (``Case(..., service="visdom")``) is a server the zygote forks next to the
  sandbox for one run, confined the same way under a uid of its own. The sandbox listens on
  127.0.0.1 in its own network namespace and passes the listening socket to it before the
  submission is imported; when the sandbox has ended, the service writes its state to a pipe
  the grader reads, and is killed (``lessonlib.classroom.grade_services``).

Modules: this one is the zygote (the grader's side); ``confine`` holds the configuration and
the system calls of every layer; ``sandbox_child`` what runs inside the sandbox;
``sandbox_services`` a case's server.

Without root, the zygote first enters a user namespace of its own (where the kernel allows
it). Where no namespaces are allowed at all, the sandbox still runs with the layers that hold
(rlimits, session kill, uid, scrubbed env, work dir) and ``Isolation`` says what is missing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import traceback
from pathlib import Path
from typing import Any

from lessonlib.classroom.confine import (
    _SANDBOX_FLAGS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    EXIT_SETUP_FAILED,
    MS_NODEV,
    MS_NOSUID,
    MS_PRIVATE,
    MS_REC,
    PR_SET_PDEATHSIG,
    SandboxConfig,
    _check,
    _kill_sandbox,
    _libc,
    _mount,
    _prctl,
    _sweep,
    _unshare,
)
from lessonlib.classroom.sandbox_child import _sandbox
from lessonlib.classroom.sandbox_services import _start_services, _stop_services


class Zygote:
    """A fork server: ``spawn`` starts one sandboxed run; ``kill`` ends it; messages report exit."""

    def __init__(self, config: SandboxConfig) -> None:
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        grader = os.getpid()
        pid = os.fork()
        if pid == 0:  # the zygote
            try:
                parent_sock.close()
                _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                if os.getppid() != grader:
                    os._exit(0)
                _zygote_main(child_sock, config)
            except BaseException:  # noqa: BLE001
                traceback.print_exc()
            finally:
                os._exit(0)
        child_sock.close()
        self.pid = pid
        self.sock = parent_sock
        hello = self.wait_message()
        self.mode = str(hello.get("mode", "none"))
        self.notes = list(hello.get("notes", []))

    def spawn(self, request: dict, fds: list[int]) -> int:
        socket.send_fds(self.sock, [json.dumps(request).encode()], fds)
        return int(self.wait_message()["sandbox"])

    def kill(self) -> None:
        self.sock.send(b'{"kill": true}')

    def wait_message(self) -> dict:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the zygote is gone")
        return json.loads(data)

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def _try_in_child(body) -> bool:
    """Run ``body`` in a forked child; True when it returned without raising."""
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            body()
            ok = True
        except BaseException:  # noqa: BLE001
            pass
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _pid_namespace_child_works() -> None:
    own = os.open("/proc/self/ns/pid", os.O_RDONLY)
    _unshare(CLONE_NEWPID)
    ok = _try_in_child(
        lambda: (
            _unshare(_SANDBOX_FLAGS),
            _mount(None, "/", None, MS_REC | MS_PRIVATE),
            _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k"),
        )
    )
    _check(_libc.setns(own, CLONE_NEWPID), "setns")
    if not ok:
        raise OSError("namespaces refused")


def _enter_user_namespace() -> None:
    uid, gid = os.geteuid(), os.getegid()
    _unshare(CLONE_NEWUSER)
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
    Path("/proc/self/gid_map").write_text(f"0 {gid} 1")


def _user_namespace_works() -> None:
    # As the zygote will: pid 1 of a pid namespace owned by our user namespace, where
    # setns back to "our own" pid namespace is allowed (it is not into the host's).
    _enter_user_namespace()
    _unshare(CLONE_NEWPID)
    if not _try_in_child(_pid_namespace_child_works):
        raise OSError("pid namespaces refused inside the user namespace")


def _zygote_main(sock: socket.socket, config: SandboxConfig) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    notes: list[str] = []
    mode = "none"
    if config.namespaces == "off":
        notes.append("namespaces switched off (LESSONLIB_SANDBOX_NAMESPACES=off)")
    elif os.geteuid() == 0 and _try_in_child(_pid_namespace_child_works):
        mode = "root"
    elif _try_in_child(_user_namespace_works):
        mode = "user"
    else:
        notes.append(
            "namespaces are not allowed here (as root: no CAP_SYS_ADMIN; "
            "otherwise: unprivileged user namespaces are off)"
        )
    if mode == "user":
        # Enter a user namespace and become pid 1 of a pid namespace owned by it: there we
        # may unshare(CLONE_NEWPID) and setns back for every sandbox, as root does outside.
        _enter_user_namespace()
        _unshare(CLONE_NEWPID)
        inner = os.fork()
        if inner:
            _, status = os.waitpid(inner, 0)
            os._exit(0)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    sock.send(json.dumps({"mode": mode, "notes": notes}).encode())
    _serve(sock, config, mode)


def _serve(sock: socket.socket, config: SandboxConfig, mode: str) -> None:
    import importlib
    import select

    own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY) if mode != "none" else -1
    # Inputs are built once, here, and reach each sandbox copy-on-write: every sandbox starts
    # from pristine objects whatever the previous one did to its own copies.
    inputs: dict[int, Any] = {}
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 65536, 8)
        except OSError:
            return
        if not msg:
            return
        request = json.loads(msg)
        if "cases" not in request:
            for fd in fds:
                os.close(fd)
            continue  # a late "kill" for a sandbox that already ended
        for module, path in request.get("modules", []):
            # builder modules: imported here (a lesson's checks.py by its path), kept warm
            if path:
                from lessonlib.classroom.grading import load_module_from

                load_module_from(Path(path), module)
            else:
                importlib.import_module(module)
        _build_inputs(request, inputs)
        services = _start_services(sock, request, fds[3:], config, mode, own_pidns)
        if mode != "none":
            _unshare(CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:
            code = EXIT_SETUP_FAILED
            try:
                sock.close()
                code = _sandbox(request, fds[:3], config, mode, inputs, services)
            except BaseException:  # noqa: BLE001 - report, never return into the loop
                traceback.print_exc()
            os._exit(code)
        if mode != "none":
            _check(_libc.setns(own_pidns, CLONE_NEWPID), "setns")
        for fd in fds:
            os.close(fd)
        for service in services.values():
            service.close_sandbox_end()
        pidfd = os.pidfd_open(pid)
        sock.send(json.dumps({"sandbox": pid}).encode())
        while True:
            ready, _, _ = select.select([sock, pidfd], [], [])
            if pidfd in ready:
                break
            data = sock.recv(65536)
            _kill_sandbox(pid)  # a kill request, or the grader went away
            if not data:
                os.waitpid(pid, 0)
                _stop_services(services, config, mode, request, snapshot=False)
                return
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        if mode == "none":
            _sweep(pid, config.uid + int(request.get("slot", 0)))
        _stop_services(services, config, mode, request, snapshot=True)
        sock.send(json.dumps({"exit": pid, "status": status}).encode())


def _build_inputs(request: dict, built: dict[int, Any]) -> None:
    """Call each new case's trusted builder (in the zygote, once); failures are kept per case."""
    import importlib

    for case in request["cases"]:
        if case["index"] in built:
            continue
        try:
            builder: Any = importlib.import_module(case["module"])
            for part in case["qualname"].split("."):
                builder = getattr(builder, part)
            value = builder(*case["args"], **case["kwargs"])
            if not (
                isinstance(getattr(value, "args", None), tuple)
                and isinstance(getattr(value, "kwargs", None), dict)
            ):
                raise TypeError(f"{case['qualname']} returned {type(value).__name__}, not Inputs")
            built[case["index"]] = value
        except Exception as exc:  # noqa: BLE001 - an instructor bug; reported per case
            built[case["index"]] = exc
