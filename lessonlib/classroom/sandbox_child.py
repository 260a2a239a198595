"""Inside the sandbox: confine this process, then import the student's file and call each
case's function (with the course's answers off limits), one JSON line per event on fd 3."""

from __future__ import annotations

import os
import signal
import sys
import traceback
import types
from dataclasses import asdict
from typing import Any

from lessonlib.classroom.confine import (
    _SANDBOX_FLAGS,
    MAX_CASE_FILE_BYTES,
    MAX_CASE_FILES,
    MAX_SOURCE,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    RESULT_FD,
    WORK_DIR,
    Isolation,
    Limits,
    SandboxConfig,
    _arrange_fds,
    _drop_all_capabilities,
    _event,
    _hide_and_lock,
    _loopback_up,
    _mount,
    _prctl,
    _set_limits,
    _unshare,
)
from lessonlib.classroom.sandbox_services import _hand_over_listener, _Service


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


def _raised_in(exc: BaseException, filename: str) -> bool:
    """Was ``exc`` raised by the student's own file (a stub's TODO), not by a library it called?"""
    last = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        last = frame.f_code.co_filename
    return last == filename


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
    import tempfile

    from lessonlib.classroom import guard, plaindata

    tempfile.tempdir = None  # a folder the zygote cached is not this sandbox's /tmp
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
                not_started=isinstance(exc, NotImplementedError) and _raised_in(exc, filename),
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
