"""A case's server: forked by the zygote next to the sandbox for one run, confined the same
way under a uid of its own; it hands its state to the grader when the sandbox has ended
(the servers themselves are defined in ``lessonlib.classroom.grade_services``)."""

from __future__ import annotations

import os
import signal
import socket
import traceback
from dataclasses import dataclass

from lessonlib.classroom.confine import (
    _SANDBOX_FLAGS,
    CLONE_NEWPID,
    EXIT_SETUP_FAILED,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    RESULT_FD,
    SERVICE_GRACE_S,
    SERVICE_UID_OFFSET,
    WORK_DIR,
    Limits,
    SandboxConfig,
    _check,
    _drop_all_capabilities,
    _hide_and_lock,
    _kill_sandbox,
    _libc,
    _mount,
    _prctl,
    _set_limits,
    _sweep,
    _unshare,
)


@dataclass
class _Service:
    """A server the zygote started for one sandbox run (``lessonlib.classroom.grade_services``)."""

    name: str
    pid: int = 0
    pidfd: int = -1
    control: socket.socket | None = None  # the zygote's end: "snapshot" (or EOF) ends it
    sandbox_end: int = -1  # the sandbox sends its listening socket through this
    error: str = ""

    def close_sandbox_end(self) -> None:
        if self.sandbox_end >= 0:
            os.close(self.sandbox_end)
            self.sandbox_end = -1


def service_uid(config: SandboxConfig, slot: int) -> int:
    return config.uid + SERVICE_UID_OFFSET + slot


def _start_services(
    sock: socket.socket,
    request: dict,
    snapshot_fds: list[int],
    config: SandboxConfig,
    mode: str,
    own_pidns: int,
) -> dict[str, _Service]:
    """Fork one confined server per service the run's cases name (failures kept per service)."""
    from lessonlib.classroom import grade_services

    started: dict[str, _Service] = {}
    for name, snapshot_fd in zip(request.get("services", []), snapshot_fds, strict=False):
        service = started[name] = _Service(name)
        try:
            grade_services.warm(name)  # imported once here; every server forks warm
            own_end, sandbox_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            control, control_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            if mode != "none":
                _unshare(CLONE_NEWPID)
            try:
                pid = os.fork()
                if pid == 0:
                    code = EXIT_SETUP_FAILED
                    try:
                        sock.close()
                        fds = [own_end.fileno(), control_child.fileno(), snapshot_fd]
                        code = _service_child(name, request, config, mode, fds)
                    except BaseException:  # noqa: BLE001 - report, never return into the loop
                        traceback.print_exc()
                    os._exit(code)
            finally:
                if mode != "none":
                    _check(_libc.setns(own_pidns, CLONE_NEWPID), "setns")
            own_end.close()
            control_child.close()
            service.pid, service.pidfd = pid, os.pidfd_open(pid)
            service.control, service.sandbox_end = control, sandbox_end.detach()
        except Exception as exc:  # noqa: BLE001 - the sandbox reports it per case
            service.error = f"{type(exc).__name__}: {exc}"[:300]
    return started


def _stop_services(
    services: dict[str, _Service], config: SandboxConfig, mode: str, request: dict, snapshot: bool
) -> None:
    """Ask each server for its state (it writes it to the grader's pipe), then kill it."""
    import select
    import time

    for service in services.values():
        service.close_sandbox_end()
        if service.control is not None and snapshot:
            try:
                service.control.send(b"snapshot")
            except OSError:
                pass
    deadline = time.monotonic() + (SERVICE_GRACE_S if snapshot else 0.0)
    for service in services.values():
        if service.pid:
            select.select([service.pidfd], [], [], max(0.0, deadline - time.monotonic()))
            _kill_sandbox(service.pid)  # pid 1 of its namespace: everything in it dies
            os.waitpid(service.pid, 0)
            os.close(service.pidfd)
            if mode == "none":
                _sweep(service.pid, service_uid(config, int(request.get("slot", 0))))
        if service.control is not None:
            service.control.close()


def _service_child(
    name: str, request: dict, config: SandboxConfig, mode: str, fds: list[int]
) -> int:
    """A case's server: isolated like a sandbox (own namespaces, uid, limits), then serving."""
    import fcntl

    from lessonlib.classroom import grade_services

    os.setsid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    uid = service_uid(config, int(request.get("slot", 0)))
    mounts = False
    if mode != "none":
        _unshare(_SANDBOX_FLAGS)  # its own network namespace: it opens no socket of its own
        try:
            _hide_and_lock(config, uid if mode == "root" else 0)
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            mounts = True
        except OSError:
            pass
    work = WORK_DIR
    if not mounts:
        work = os.path.join(os.path.dirname(request["fallback_dir"]), f"service-{name}")
        os.makedirs(work, mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(work, uid, uid)
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
    for target, fd in enumerate(high, start=RESULT_FD):
        os.dup2(fd, target)
    os.closerange(RESULT_FD + len(high), 1 << 16)
    root = os.geteuid() == 0 and mode != "user"
    _set_limits(Limits(**request["limits"]), with_nproc=root or mode == "user")
    if root:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    elif mode == "user":
        _drop_all_capabilities()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    os.environ.clear()
    os.environ.update(PATH="/usr/bin:/bin", HOME=work, TMPDIR=work, LANG="C.UTF-8")
    os.chdir(work)
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(devnull, target)
    os.close(devnull)
    channel, control, snapshot = RESULT_FD, RESULT_FD + 1, RESULT_FD + 2
    grade_services.serve(name, channel, control, snapshot, work)
    return 0


def _hand_over_listener(channel: int) -> str:
    """Listen on 127.0.0.1 (this sandbox's own loopback), send the socket to the server."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        with socket.socket(fileno=os.dup(channel)) as chan:
            socket.send_fds(chan, [b"listener"], [listener.fileno()])
    return f"http://127.0.0.1:{port}"
