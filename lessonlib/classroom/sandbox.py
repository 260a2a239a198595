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

Without root, the zygote first enters a user namespace of its own (where the kernel allows
it). Where no namespaces are allowed at all, the sandbox still runs with the layers that hold
(rlimits, session kill, uid, scrubbed env, work dir) and ``Isolation`` says what is missing.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import socket
import sys
import traceback
import types
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 0x400, 0x800, 0x200000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
_MOUNT_FLAGS = {
    "ro": MS_RDONLY,
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
}

RESULT_FD = 3  # the sandbox's events go here; stdout and stderr go to a second pipe
WORK_DIR = "/tmp"
EXIT_SETUP_FAILED = 125
MAX_SOURCE = 1_000_000
MAX_CASE_FILES, MAX_CASE_FILE_BYTES = 256, 16 * 2**20
# The sandbox sees only the system folders below (read-only); every other top-level folder
# (/home, /root, /work, /opt, /mnt, ...) and the private corners of /var become empty
# read-only tmpfs, with the Python installation, the venv and lessonlib bound back in.
VISIBLE_TOP_LEVEL = (
    "usr",
    "bin",
    "sbin",
    "lib",
    "lib32",
    "lib64",
    "libx32",
    "etc",
    "dev",
    "proc",
    "sys",
    "var",
)
PRIVATE_VAR = ("/var/tmp", "/var/log", "/var/mail", "/var/spool", "/var/backups", "/var/lib/sss")
SANDBOX_UID_BASE = 3_000_000  # one uid per job slot: RLIMIT_NPROC then counts one sandbox
SERVICE_UID_OFFSET = 1000  # a case's server (grade_services) runs as SANDBOX_UID_BASE + 1000 + slot
SERVICE_GRACE_S = 5.0  # how long a server may take to hand over its state (< ZYGOTE_GRACE_S)

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(
        _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
        f"mount {target}",
    )


def _loopback_up() -> None:
    """Bring up ``lo`` in a fresh network namespace: 127.0.0.1 works, nothing else is reachable.

    Exercises such as a 2-process gloo job talk to themselves over loopback; the namespace has
    no other interface, so this opens no route out of the sandbox.
    """
    import fcntl
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, siocgifflags, request + b"\0" * 22)[:18])[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH", b"lo", flags | iff_up) + b"\0" * 22)


def _prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), "prctl")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _drop_all_capabilities() -> None:
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


# ---------------------------------------------------------------- configuration


@dataclass
class Limits:
    """Resource limits for one submission's sandbox."""

    wall_seconds: float = 30.0
    cpu_seconds: int = 30
    memory_bytes: int = 2 * 2**30  # address space on top of what the warm process maps
    processes: int = 64
    file_bytes: int = 16 * 2**20
    open_files: int = 64
    work_bytes: int = 64 * 2**20


@dataclass
class SandboxConfig:
    """What the zygote needs to know once: which paths to hide, which uid to use."""

    hide: list[str] = field(default_factory=list)  # instructor paths (tests/, solutions/, …)
    keep: list[str] = field(default_factory=list)  # bound back read-only inside the masks
    uid: int = SANDBOX_UID_BASE
    limits: Limits = field(default_factory=Limits)
    namespaces: str = "auto"  # "off" forces the fallback (what holds without namespaces)


@dataclass
class Isolation:
    """Which layers held for a sandbox run (reported once per grading run)."""

    namespaces: str = "none"  # "root", "user" or "none"
    mounts: bool = False
    uid_dropped: bool = False
    capabilities_dropped: bool = False
    process_limit: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = []
        if self.namespaces != "none":
            parts.append(
                "own pid/mount/network namespaces"
                + (" (user namespace)" if self.namespaces == "user" else "")
            )
        else:
            parts.append("NO namespaces (network open, files readable as the sandbox user)")
        parts.append(
            "instructor files hidden, file system read-only"
            if self.mounts
            else "instructor files NOT hidden"
        )
        if self.uid_dropped:
            parts.append("unprivileged uid")
        elif self.capabilities_dropped:
            parts.append("capabilities dropped")
        parts.append("process limit" if self.process_limit else "NO process-count limit")
        return "; ".join(parts)


def default_keep_paths() -> list[str]:
    """The Python installation, the venv and the lessonlib package: readable in the sandbox."""
    import lessonlib

    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, str(Path(lessonlib.__file__).parent)}
    for entry in sys.path:
        if entry and (entry.startswith(sys.prefix) or entry.startswith(sys.base_prefix)):
            paths.add(entry)
    real = {os.path.realpath(p) for p in paths if p and os.path.isdir(p)}
    return sorted(real)


# ---------------------------------------------------------------- zygote (grader side API)


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


_SANDBOX_FLAGS = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS


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


def _kill_sandbox(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# ---------------------------------------------------------------- a case's server


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


# ---------------------------------------------------------------- the sandbox's own set-up


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _event(fd: int, **event: Any) -> None:
    _write_all(fd, (json.dumps(event, separators=(",", ":"), allow_nan=False) + "\n").encode())


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


def _mount_points() -> list[tuple[str, int]]:
    """(mount point, its per-mount flags) for every mount, parents first."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        target = fields[4].encode().decode("unicode_escape")
        flags = 0
        for opt in fields[5].split(","):
            flags |= _MOUNT_FLAGS.get(opt, 0)
        points.append((target, flags))
    return sorted(points, key=lambda p: p[0].count("/"))


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _hide_and_lock(config: SandboxConfig, work_uid: int) -> None:
    """Read-only everything, empty tmpfs over private folders, a small writable /tmp."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    keeps = [k for k in config.keep if os.path.isdir(k)]
    tops = [f"/{n}" for n in os.listdir("/") if n not in VISIBLE_TOP_LEVEL]
    masks = sorted(
        {
            os.path.realpath(p)
            for p in (*tops, *PRIVATE_VAR, *config.hide)
            if os.path.isdir(p) and not os.path.islink(p)
        }
        | {WORK_DIR},
        key=lambda p: (p.count("/"), p),
    )
    # Open what must stay reachable first: the bind mounts then come from /proc/self/fd.
    keep_fds = {k: os.open(k, os.O_PATH | os.O_DIRECTORY) for k in keeps}
    for target, flags in _mount_points():
        if target.startswith(("/proc", "/sys", "/dev")):
            continue
        try:
            _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        except OSError:
            if target == "/":
                raise
    done: list[str] = []
    for mask in masks:
        if any(_under(mask, d) for d in done) and not any(_under(mask, k) for k in keeps):
            continue  # already hidden by a mask above it
        writable = mask == WORK_DIR
        options = (
            f"size={config.limits.work_bytes},mode=0700,uid={work_uid},gid={work_uid}"
            if writable
            else "size=64k,mode=0755"
        )
        _mount("tmpfs", mask, "tmpfs", MS_NOSUID | MS_NODEV, options)
        for keep in [k for k in keeps if _under(k, mask)]:
            os.makedirs(keep, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{keep_fds[keep]}", keep, None, MS_BIND | MS_REC)
            _mount(None, keep, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        if not writable:
            _mount(None, mask, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        done.append(mask)
    for name in os.listdir("/"):  # stray files at the top (container notes and the like)
        path = f"/{name}"
        if name not in VISIBLE_TOP_LEVEL and os.path.isfile(path) and not os.path.islink(path):
            _mount("/dev/null", path, None, MS_BIND)
    if os.path.isdir("/dev/shm") and not os.path.islink("/dev/shm"):
        # A private, empty /dev/shm: POSIX semaphores and shared memory (multiprocessing,
        # DataLoader workers) work, and nothing is shared with the host or another sandbox.
        _mount(
            "tmpfs",
            "/dev/shm",
            "tmpfs",
            MS_NOSUID | MS_NODEV | MS_NOEXEC,
            f"size={config.limits.work_bytes},mode=1777",
        )
    for fd in keep_fds.values():
        os.close(fd)


def _sweep(pgid: int, uid: int) -> None:
    """Without a pid namespace: kill the group, and (as root) every process of the sandbox uid."""
    _kill_sandbox(pgid)
    if os.geteuid() != 0:
        return
    for _ in range(20):
        found = False
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid == uid:
                        found = True
                        os.kill(int(entry), signal.SIGKILL)
                except (FileNotFoundError, ProcessLookupError):
                    pass
        if not found:
            return


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def _set_limits(limits: Limits, with_nproc: bool) -> None:
    def lim(which: int, soft: int, hard: int | None = None) -> None:
        resource.setrlimit(which, (soft, soft if hard is None else hard))

    lim(resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 2)
    lim(resource.RLIMIT_AS, _vm_size() + limits.memory_bytes)
    lim(resource.RLIMIT_FSIZE, limits.file_bytes)
    lim(resource.RLIMIT_NOFILE, limits.open_files)
    lim(resource.RLIMIT_CORE, 0)
    if with_nproc:
        lim(resource.RLIMIT_NPROC, limits.processes)


def _arrange_fds(result_w: int, output_w: int, source_fd: int) -> bytes:
    source = b""
    while len(source) <= MAX_SOURCE:
        chunk = os.pread(source_fd, 65536, len(source))
        if not chunk:
            break
        source += chunk
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output_w, 1)
    os.dup2(output_w, 2)
    os.dup2(result_w, RESULT_FD)
    os.closerange(RESULT_FD + 1, 1 << 16)
    return source


def _sandbox(
    request: dict,
    fds: list[int],
    config: SandboxConfig,
    mode: str,
    inputs: dict[int, Any],
    services: dict[str, _Service] | None = None,
) -> int:
    """The child's whole life: isolate itself, then run the submission. Returns its exit code."""
    result_w, output_w, source_fd = fds
    os.setsid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    isolation = Isolation(namespaces=mode)
    uid = config.uid + int(request.get("slot", 0))
    if mode != "none":
        _unshare(_SANDBOX_FLAGS)
        try:
            _loopback_up()
        except OSError as exc:
            isolation.notes.append(f"loopback stays down ({exc.strerror})")
        try:
            _hide_and_lock(config, uid if mode == "root" else 0)
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            isolation.mounts = True
        except OSError as exc:
            isolation.notes.append(f"mounts refused ({exc.strerror})")
    urls: dict[str, str] = {}
    unavailable: dict[str, str] = {}
    for name, service in (services or {}).items():
        try:
            if service.sandbox_end < 0:
                raise OSError(0, service.error or "it did not start")
            urls[name] = _hand_over_listener(service.sandbox_end)
        except OSError as exc:
            unavailable[name] = f"the {name} server is not available ({exc.strerror or exc})"
            isolation.notes.append(unavailable[name])
        service.close_sandbox_end()
    work = WORK_DIR if isolation.mounts else request["fallback_dir"]
    if not isolation.mounts:
        os.makedirs(work, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(work, uid, uid)
    source = _arrange_fds(result_w, output_w, source_fd)
    root = os.geteuid() == 0 and mode != "user"
    isolation.process_limit = root or mode == "user"
    _set_limits(Limits(**request["limits"]), with_nproc=isolation.process_limit)
    if root:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        isolation.uid_dropped = True
    elif mode == "user":
        _drop_all_capabilities()
        isolation.capabilities_dropped = True
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # again: changing uid clears it
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    os.environ.clear()
    os.environ.update(
        PATH="/usr/local/bin:/usr/bin:/bin",
        HOME=work,
        TMPDIR=work,
        LANG="C.UTF-8",
        LC_ALL="C.UTF-8",
        MPLBACKEND="Agg",
        USER="student",
    )
    os.chdir(work)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    _event(RESULT_FD, event="sandbox", isolation=asdict(isolation))
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    run_submission(source, request["cases"], inputs, work, urls, unavailable)
    return 0


def _where(exc: BaseException, filename: str) -> str:
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == filename:
            line = lineno
    return f"exercises.py:{line}" if line else ""


def _text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__
        text = ""
    return text[:1000]


def _case_files(folder: str) -> dict[str, str]:
    """Files a call wrote under its folder, base64, bounded in count and size."""
    import base64

    found: dict[str, str] = {}
    total = 0
    for top, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(top, name)
            if len(found) >= MAX_CASE_FILES or os.path.islink(path) or not os.path.isfile(path):
                continue
            size = os.path.getsize(path)
            if total + size > MAX_CASE_FILE_BYTES:
                continue
            with open(path, "rb") as fh:
                data = fh.read(size)
            total += len(data)
            found[os.path.relpath(path, folder)] = base64.b64encode(data).decode("ascii")
    return found


def run_submission(
    source: bytes,
    cases: list[dict],
    inputs: dict[int, Any],
    work: str,
    services: dict[str, str] | None = None,
    unavailable: dict[str, str] | None = None,
) -> None:
    """Compile and import the student's file, call each case's function, report as JSON lines.

    ``services`` maps a service name to the URL its server answers at in this sandbox.
    """
    from lessonlib.classroom import guard, plaindata
    from lessonlib.classroom.cases import ServiceUnavailable, resolve_inputs

    filename = os.path.join(work, "exercises.py")
    if len(source) > MAX_SOURCE:
        _event(RESULT_FD, event="import_error", type="FileTooLarge", message="", where="")
        return
    try:
        with open(filename, "wb") as fh:
            fh.write(source)
        code = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        _event(RESULT_FD, event="syntax_error", line=exc.lineno or 0, message=str(exc.msg)[:300])
        return
    except (ValueError, OSError, MemoryError, RecursionError) as exc:
        _event(RESULT_FD, event="syntax_error", line=0, message=_text(exc)[:300])
        return
    module = types.ModuleType("exercises")
    module.__file__ = filename
    sys.modules["exercises"] = module
    try:
        exec(code, module.__dict__)
    except BaseException as exc:  # noqa: BLE001 - anything the import raises is reported
        _event(
            RESULT_FD,
            event="import_error",
            type=type(exc).__name__,
            message=_text(exc),
            where=_where(exc, filename),
        )
        return
    _event(RESULT_FD, event="ready")
    for case in cases:
        index = case["index"]
        _event(RESULT_FD, event="begin", case=index)
        built = inputs.get(index)
        if isinstance(built, Exception):
            _event(RESULT_FD, event="builder_error", case=index, message=_text(built))
            continue
        folder = os.path.join(work, f"case{index}")
        os.makedirs(folder, exist_ok=True)
        os.chdir(folder)
        func = module.__dict__.get(case["function"])
        if not callable(func):
            _event(RESULT_FD, event="missing", case=index, function=case["function"])
            continue
        try:
            call = resolve_inputs(
                built, os.path.join(work, "inputs", f"case{index}"), services or {}
            )
        except ServiceUnavailable as exc:
            reason = (unavailable or {}).get(str(exc), f"no {exc} server was started")
            _event(RESULT_FD, event="service_error", case=index, message=reason)
            continue
        except (OSError, ValueError) as exc:
            _event(RESULT_FD, event="builder_error", case=index, message=_text(exc))
            continue
        if call.before is not None:
            try:
                call.before(call.args)
            except Exception as exc:  # noqa: BLE001 - a set-up failure is the course's
                message = f"the case's set-up failed: {_text(exc)}"
                _event(RESULT_FD, event="builder_error", case=index, message=message)
                continue
        try:
            value = guard.checked_call(case["exercise"], func, call.args, call.kwargs)
        except BaseException as exc:  # noqa: BLE001
            _event(
                RESULT_FD,
                event="raised",
                case=index,
                type=type(exc).__name__,
                message=_text(exc),
                where=_where(exc, filename),
                not_started=isinstance(exc, NotImplementedError),
            )
            continue
        finally:
            try:
                sys.stdout.flush()
            except BaseException:  # noqa: BLE001
                pass
        try:
            encoded = plaindata.encode(value)
        except BaseException as exc:  # noqa: BLE001
            encoded = {"t": "unreadable", "v": f"value ({type(exc).__name__} while reading it)"}
        try:
            files = _case_files(folder)
        except OSError:
            files = {}
        _event(RESULT_FD, event="end", case=index, value=encoded, files=files)
