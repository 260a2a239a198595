"""The sandbox's layers: its configuration and the system calls that confine a process
(namespaces, read-only and hidden mounts, rlimits, capabilities, a scrubbed session).

Used by the zygote (``lessonlib.classroom.sandbox``), the sandbox child
(``sandbox_child``) and a case's server (``sandbox_services``)."""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import socket
import sys
from dataclasses import dataclass, field
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


_SANDBOX_FLAGS = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _event(fd: int, **event: Any) -> None:
    _write_all(fd, (json.dumps(event, separators=(",", ":"), allow_nan=False) + "\n").encode())


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


def _kill_sandbox(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
