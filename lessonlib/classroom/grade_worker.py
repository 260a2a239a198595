"""One grading job: a warm process that forks a sandbox per submission and checks the answers.

``lessonlib.classroom.grade_run`` starts one per ``--jobs`` with a minimal environment and
talks JSON lines with it on stdin/stdout. Start-up order matters: torch is imported and the
zygote is forked *before* the case file (with the checks) is loaded, so no sandbox inherits
the checks.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import select
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lessonlib.classroom.confine import (
    EXIT_SETUP_FAILED,
    SANDBOX_UID_BASE,
    Limits,
    SandboxConfig,
    default_keep_paths,
)
from lessonlib.classroom.grading import CaseSpec
from lessonlib.classroom.records import (
    CRASHED,
    FAILED,
    NOT_STARTED,
    PASSED,
    SYNTAX_ERROR,
    TIMED_OUT,
    CaseOutcome,
    RunProblem,
    output_lines,
    plain_text,
)
from lessonlib.classroom.sandbox import Zygote
from lessonlib.messages import _


def _on(case: str, message: str) -> str:
    """A case's failure as the learner reads it: "On <case>: <message>"."""
    return _("On {case}: {message}").format(case=case, message=message)


MAX_RESULT_BYTES = 64 * 2**20
MAX_STATE_BYTES = 32 * 2**20  # a service's state (grade_services.MAX_SNAPSHOT_BYTES)
OUTPUT_TAIL_BYTES = 16 * 1024
KILL_GRACE_S = 2.0
ZYGOTE_GRACE_S = 15.0
_SIGNALS = {
    signal.SIGSEGV: "a segmentation fault",
    signal.SIGBUS: "a bus error",
    signal.SIGABRT: "an abort",
    signal.SIGFPE: "a floating-point exception",
    signal.SIGILL: "an illegal instruction",
    signal.SIGXCPU: "the CPU-time limit",
    signal.SIGXFSZ: "the file-size limit",
    signal.SIGKILL: "SIGKILL (the memory or process limit, or a kill)",
}


@dataclass
class SandboxRun:
    """What one sandbox run sent back, and how it ended."""

    events: list[dict] = field(default_factory=list)
    output: bytes = b""
    exit_code: int | None = None
    kill_reason: str = ""  # "case", "budget", "size" or ""
    active: int | None = None  # the case running when it ended
    elapsed: float = 0.0
    services: dict[str, bytes | None] = field(default_factory=dict)  # each server's state

    def first(self, kind: str) -> dict | None:
        return next((e for e in self.events if e.get("event") == kind), None)


def _parse_lines(
    buffer: bytearray,
    run: SandboxRun,
    started: dict[int, float],
    now: float,
    wanted: set[int],
    scanned: int,
) -> int:
    """Consume the complete lines in ``buffer``; returns how far the rest was searched."""
    while True:
        cut = buffer.find(b"\n", scanned)
        if cut < 0:
            return len(buffer)
        scanned = 0
        line = bytes(buffer[:cut])
        del buffer[: cut + 1]
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            continue
        case = event.get("case")
        if event.get("event") != "sandbox" and case is not None and case not in wanted:
            continue
        run.events.append(event)
        if event["event"] == "begin":
            run.active = case
            started.setdefault(case, now)
        elif case is not None and case == run.active:
            run.active = None


def run_sandbox(
    zygote: Zygote,
    source: bytes,
    specs: list[CaseSpec],
    budget: float,
    limits: Limits,
    slot: int,
    fallback_dir: str,
    modules: list,
) -> SandboxRun:
    """Fork one sandbox for ``source``, stream its events, enforce the per-case and total limits."""
    run = SandboxRun()
    result_r, result_w = os.pipe()
    output_r, output_w = os.pipe()
    memfd = os.memfd_create("exercises", os.MFD_CLOEXEC)
    os.write(memfd, source)
    services = sorted({s.service for s in specs if s.service})
    state_pipes = {name: os.pipe() for name in services}  # each server writes its state here
    request = {
        "cases": [s.to_json() for s in specs],
        "limits": asdict(limits),
        "slot": slot,
        "fallback_dir": fallback_dir,
        "modules": modules,
        "services": services,
    }
    start = time.monotonic()
    sent = [result_w, output_w, memfd, *(w for _, w in state_pipes.values())]
    try:
        zygote.spawn(request, sent)
    finally:
        for fd in sent:
            os.close(fd)
    states = {r: (name, bytearray()) for name, (r, _) in state_pipes.items()}
    timeouts = {s.index: s.timeout for s in specs}
    wanted = set(timeouts)
    started: dict[int, float] = {}
    buffer, output, received, scanned = bytearray(), bytearray(), 0, 0
    open_fds = {result_r, output_r, *states}
    killed_at = exited_at = None
    while True:
        now = time.monotonic()
        deadline = start + budget
        if run.active is not None and run.active in started:
            deadline = min(deadline, started[run.active] + timeouts.get(run.active, budget))
        if run.exit_code is None and not run.kill_reason and now >= deadline:
            run.kill_reason = "budget" if deadline >= start + budget else "case"
        if run.kill_reason and run.exit_code is None and killed_at is None:
            killed_at = now
            zygote.kill()
        if killed_at is not None and run.exit_code is None and now - killed_at > ZYGOTE_GRACE_S:
            raise RuntimeError("the zygote did not end a sandbox it was asked to kill")
        if run.exit_code is not None and (not open_fds or now - exited_at > KILL_GRACE_S):
            break
        watch = list(open_fds) + ([zygote.sock.fileno()] if run.exit_code is None else [])
        wait = max(0.0, min(deadline - now, 0.25)) if not run.kill_reason else 0.25
        ready, _, _ = select.select(watch, [], [], wait)
        for fd in ready:
            if fd == zygote.sock.fileno():
                status = int(zygote.wait_message()["status"])
                run.exit_code = (
                    128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                )
                exited_at = time.monotonic()
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.discard(fd)
                os.close(fd)
                continue
            if fd in states:
                name, data = states[fd]
                if len(data) <= MAX_STATE_BYTES:
                    data += chunk
                continue
            if fd == result_r:
                received += len(chunk)
                buffer += chunk
                scanned = _parse_lines(buffer, run, started, time.monotonic(), wanted, scanned)
                if received > MAX_RESULT_BYTES and not run.kill_reason:
                    run.kill_reason = "size"
            else:
                output += chunk
                if len(output) > 2 * OUTPUT_TAIL_BYTES:
                    del output[:-OUTPUT_TAIL_BYTES]
    for fd in open_fds:
        os.close(fd)
    for fd, (name, data) in states.items():
        complete = fd not in open_fds and len(data) <= MAX_STATE_BYTES
        run.services[name] = bytes(data) if complete and data else None
    run.output = bytes(output[-OUTPUT_TAIL_BYTES:])
    run.elapsed = time.monotonic() - start
    return run


def describe_exit(code: int | None) -> str:
    if code is None:
        return "it never reported back"
    if code == EXIT_SETUP_FAILED:
        return "the sandbox could not start it"
    if code >= 128:
        sig = code - 128
        try:
            return _SIGNALS.get(signal.Signals(sig), f"signal {signal.Signals(sig).name}")
        except ValueError:
            return f"signal {sig}"
    return f"exit code {code} (sys.exit or os._exit in your code?)"


# ---------------------------------------------------------------- one submission


class Grader:
    """The warm state of one job: zygote, cases, the grader's own copies of the inputs."""

    def __init__(self, config: dict) -> None:
        from lessonlib.course.catalog import find_lesson

        self.config = config
        self.root = Path(config["root"])
        self.lesson = find_lesson(config["lesson"], self.root)
        self.slot = int(config["slot"])
        self.limits = Limits(**config["limits"])
        self.timeout = float(config["timeout"])
        self.scratch = Path(config["scratch"])
        # Without mount namespaces the sandbox works in a real folder: its parent must be
        # traversable by the sandbox uid but not listable, and hold nothing else.
        self.fallback_root = Path(tempfile.mkdtemp(prefix="lessonlib-work-", dir="/tmp"))
        self.fallback_root.chmod(0o711)
        (self.fallback_root / "owner.pid").write_text(str(os.getpid()))
        _preimport(self.lesson.exercises_file)
        import lessonlib.classroom.plaindata  # noqa: F401 - warm for the sandbox, which imports it

        keep = default_keep_paths()
        self.zygote = Zygote(
            SandboxConfig(
                hide=config["hide"],
                keep=keep,
                limits=self.limits,
                namespaces=config.get("namespaces", "auto"),
                uid=int(config.get("uid", SANDBOX_UID_BASE)),
            )
        )
        # Only now, in this process alone: the case file and its checks.
        from lessonlib.classroom.grading import load_cases

        self.cases, self.specs = load_cases(
            self.lesson, self.root, hidden=config.get("hidden", True)
        )
        self.modules = sorted({(s.module, s.path or "") for s in self.specs})
        self._inputs: dict[int, Any] = {}
        # Without namespaces a case's server listens on the machine's own loopback, where any
        # sandbox could reach it: then no other job's sandbox runs while one is up.
        self.lock_path = self.scratch.parent / "services.lock"

    def probe(self) -> dict:
        """An empty submission: builds every case's inputs once, reports the isolation."""
        run = self._run(b"pass\n", self.specs, 300.0)
        event = run.first("sandbox")
        if run.first("ready") is None or event is None:
            tail = run.output.decode("utf-8", "replace")[-600:]
            raise RuntimeError(
                f"the sandbox did not start ({describe_exit(run.exit_code)}): {tail}"
            )
        broken = [e for e in run.events if e.get("event") == "builder_error"]
        if broken:
            spec = self.specs[broken[0]["case"]]
            raise RuntimeError(
                f"case {spec.index} ({spec.name}) of the case file cannot be built: "
                f"{broken[0].get('message')}"
            )
        down = [e for e in run.events if e.get("event") == "service_error"]
        down += [
            {"case": s.index, "message": f"the {s.service} server sent no state"}
            for s in self.specs
            if s.service and not run.services.get(s.service)
        ]
        if down:
            spec = self.specs[down[0]["case"]]
            raise RuntimeError(
                f"case {spec.index} ({spec.name}) needs a server that does not work here: "
                f"{down[0].get('message')}"
            )
        isolation = dict(event["isolation"])
        isolation["notes"] = [*self.zygote.notes, *isolation.get("notes", [])]
        return isolation

    def _run(self, source: bytes, specs: list[CaseSpec], budget: float) -> SandboxRun:
        import contextlib
        import fcntl

        fallback = str(self.fallback_root / "work")
        _clear(Path(fallback))
        for folder in self.fallback_root.glob("service-*"):
            _clear(folder)
        with contextlib.ExitStack() as stack:
            if self.zygote.mode == "none":
                lock = stack.enter_context(open(self.lock_path, "a"))
                serves = any(s.service for s in specs)
                fcntl.flock(lock, fcntl.LOCK_EX if serves else fcntl.LOCK_SH)
            return run_sandbox(
                self.zygote, source, specs, budget, self.limits, self.slot, fallback, self.modules
            )

    def close(self) -> None:
        self.zygote.close()
        _clear(self.fallback_root)

    def inputs(self, spec: CaseSpec):
        """The grader's own copy of a case's inputs (input files written under its scratch)."""
        if spec.index not in self._inputs:
            import importlib

            from lessonlib.classroom.cases import resolve_inputs

            builder: Any = importlib.import_module(spec.module)
            for part in spec.qualname.split("."):
                builder = getattr(builder, part)
            folder = self.scratch / "inputs" / f"case{spec.index}"
            built = builder(*spec.args, **spec.kwargs)
            self._inputs[spec.index] = resolve_inputs(built, folder, None)
        return self._inputs[spec.index]

    def grade(self, source: bytes) -> tuple[list[CaseOutcome], RunProblem | None, list[str]]:
        outcomes: dict[int, CaseOutcome] = {}
        ends: dict[int, dict] = {}
        states: dict[int, bytes | None] = {}  # a service case's server state, from its run
        remaining = list(self.specs)
        budget = self.timeout
        output = b""
        while remaining:
            if budget <= 0.05:
                for s in remaining:
                    outcomes[s.index] = CaseOutcome(
                        s.index,
                        s.exercise,
                        s.name,
                        TIMED_OUT,
                        f"not run: the submission used up its {self.timeout:g} s before "
                        f"{s.function}() on {s.name}.",
                    )
                break
            batch = _next_batch(remaining)
            run = self._run(source, batch, budget)
            budget -= run.elapsed
            output += run.output
            problem = self._import_problem(run)
            if problem is not None:
                return [], problem, output_lines(output)
            by_index = {s.index: s for s in batch}
            for event in run.events:
                spec = by_index.get(event.get("case"))
                if spec is None or spec.index in outcomes or spec.index in ends:
                    continue
                kind = event["event"]
                if kind == "end":
                    ends[spec.index] = event
                    if spec.service:
                        states[spec.index] = run.services.get(spec.service)
                elif kind in ("raised", "missing", "builder_error", "service_error"):
                    outcomes[spec.index] = _outcome_from_event(spec, event)
            stopped = run.active if run.active in by_index else None
            if stopped is not None and stopped not in outcomes and stopped not in ends:
                spec = by_index[stopped]
                if run.kill_reason in ("case", "budget"):
                    limit = spec.timeout if run.kill_reason == "case" else self.timeout
                    outcomes[stopped] = CaseOutcome(
                        spec.index,
                        spec.exercise,
                        spec.name,
                        TIMED_OUT,
                        f"{spec.function}() did not finish within {limit:g} s on {spec.name} "
                        "(an endless loop?).",
                    )
                else:
                    how = (
                        "sent back more data than the grader accepts"
                        if run.kill_reason == "size"
                        else f"died ({describe_exit(run.exit_code)})"
                    )
                    outcomes[stopped] = CaseOutcome(
                        spec.index,
                        spec.exercise,
                        spec.name,
                        CRASHED,
                        f"the process running {spec.function}() {how} on {spec.name}.",
                    )
            dead = {
                outcomes[i].exercise
                for i in outcomes
                if outcomes[i].outcome in (TIMED_OUT, CRASHED)
            }
            left = [s for s in remaining if s.index not in outcomes and s.index not in ends]
            for s in left:
                if s.exercise in dead:
                    outcomes[s.index] = CaseOutcome(s.index, s.exercise, s.name, "skipped")
            left = [s for s in left if s.index not in outcomes]
            unrun = [s for s in left if s.index in by_index]
            if unrun and stopped is None and not run.kill_reason:
                # It ended between cases without a word: a crash outside any call.
                for s in unrun:
                    outcomes[s.index] = CaseOutcome(
                        s.index,
                        s.exercise,
                        s.name,
                        CRASHED,
                        f"the process ended before {s.function}() ran on {s.name} "
                        f"({describe_exit(run.exit_code)}).",
                    )
                left = [s for s in left if s.index not in by_index]
            remaining = left
        for index, event in sorted(ends.items()):
            spec = next(s for s in self.specs if s.index == index)
            outcomes[index] = self._check(spec, event, states.get(index))
        return sorted(outcomes.values(), key=lambda o: o.index), None, output_lines(output)

    def _import_problem(self, run: SandboxRun) -> RunProblem | None:
        syntax = run.first("syntax_error")
        if syntax is not None:
            line = syntax.get("line") or "?"
            return RunProblem(
                SYNTAX_ERROR,
                plain_text(
                    f"exercises.py does not compile: line {line}: {syntax.get('message', '')}. "
                    "Fix it and run lessonlib check."
                ),
            )
        failed = run.first("import_error")
        if failed is not None:
            where = f" ({failed['where']})" if failed.get("where") else ""
            return RunProblem(
                CRASHED,
                plain_text(
                    f"importing exercises.py raised {failed.get('type', 'an error')}: "
                    f"{failed.get('message', '')}{where}."
                ),
            )
        if run.first("ready") is None:
            if run.kill_reason == "size":
                return RunProblem(
                    CRASHED,
                    "importing exercises.py sent the grader more than "
                    f"{MAX_RESULT_BYTES // 2**20} MB of data.",
                )
            if run.kill_reason in ("case", "budget"):
                return RunProblem(
                    TIMED_OUT,
                    plain_text(
                        f"importing exercises.py did not finish within {self.timeout:g} s "
                        "(code at the top level that never ends?)."
                    ),
                )
            return RunProblem(
                CRASHED,
                plain_text(
                    f"the process importing exercises.py died ({describe_exit(run.exit_code)})."
                ),
            )
        return None

    def _check(self, spec: CaseSpec, event: dict, state: bytes | None = None) -> CaseOutcome:
        from lessonlib.classroom import plaindata

        case = self.cases[spec.index]

        def outcome(status: str, message: str = "", hint: int | None = None) -> CaseOutcome:
            return CaseOutcome(
                spec.index, spec.exercise, spec.name, status, plain_text(message), hint
            )

        try:
            got = plaindata.decode(event.get("value"))
        except plaindata.PlainDataError:
            return outcome(
                FAILED,
                _on(
                    spec.name,
                    _(
                        "{function}() returned data the grader cannot read; return plain data "
                        "(lists, numbers, strings, tensors)."
                    ).format(function=spec.function),
                ),
            )
        if isinstance(got, plaindata.Unreadable):
            return outcome(
                FAILED,
                _on(
                    spec.name,
                    _(
                        "{function}() returned {what}; return plain data (lists, numbers, "
                        "strings, tensors)."
                    ).format(function=spec.function, what=plaindata.describe(got)),
                ),
            )
        files = self._unpack(spec.index, event.get("files"))
        extra: tuple = ()
        if spec.service:
            try:
                extra = (json.loads(state),) if state else ()
            except (ValueError, RecursionError):
                extra = ()
            if not extra:
                return outcome(
                    FAILED,
                    _on(
                        spec.name,
                        _(
                            "the grader could not read the {service} server's state after the "
                            "call (did the call flood or crash the server?)."
                        ).format(service=spec.service),
                    ),
                )
        try:
            case.judge(got, self.inputs(spec), files, *extra)
        except AssertionError as exc:
            text = str(exc).strip() or _("the returned value is not right.")
            return outcome(FAILED, _on(spec.name, text), getattr(exc, "hint", None) or case.hint)
        except Exception as exc:  # noqa: BLE001 - a check tripping over a strange value
            return outcome(
                FAILED,
                _on(
                    spec.name,
                    _(
                        "{function}() returned {what}, which this check cannot use ({error})."
                    ).format(
                        function=spec.function,
                        what=plaindata.describe(got),
                        error=type(exc).__name__,
                    ),
                ),
            )
        return outcome(PASSED)

    def _unpack(self, index: int, files: Any) -> Path:
        folder = self.scratch / "files" / f"case{index}"
        _clear(folder)
        folder.mkdir(parents=True)
        if not isinstance(files, dict):
            return folder
        total = 0
        for rel, data in list(files.items())[:256]:
            if not isinstance(rel, str) or not isinstance(data, str):
                continue
            parts = rel.split("/")
            if (
                rel.startswith("/")
                or "\0" in rel
                or len(parts) > 16
                or any(p in ("", ".", "..") or len(p) > 255 for p in parts)
            ):
                continue
            try:
                raw = base64.b64decode(data, validate=True)
            except ValueError:
                continue
            total += len(raw)
            if total > 16 * 2**20:
                break
            target = folder.joinpath(*parts)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "xb") as fh:
                    fh.write(raw)
            except OSError:
                continue
        return folder


def _next_batch(remaining: list[CaseSpec]) -> list[CaseSpec]:
    """The cases of the next sandbox run: a case with a service runs alone, with a fresh server
    that only the submission's import and that one call can reach; the others run together."""
    if remaining[0].service:
        return remaining[:1]
    return [s for s in remaining if not s.service]


def _course_fault(spec: CaseSpec, detail: str, what: str) -> CaseOutcome:
    """A case the course, not the student, made fail: the detail to the teacher's log only."""
    print(f"case {spec.index} ({spec.name}){detail}", file=sys.stderr)
    return CaseOutcome(
        spec.index,
        spec.exercise,
        spec.name,
        FAILED,
        f"the grader could not {what} (a problem in the course, not in your code): "
        "tell your teacher.",
    )


def _outcome_from_event(spec: CaseSpec, event: dict) -> CaseOutcome:
    kind = event["event"]
    if kind == "missing":
        return CaseOutcome(
            spec.index,
            spec.exercise,
            spec.name,
            NOT_STARTED,
            f"exercises.py has no function {spec.function}().",
        )
    if kind == "service_error":
        return _course_fault(
            spec,
            f": {event.get('message')}",
            f"start the {spec.service} server this case needs",
        )
    if kind == "builder_error":
        return _course_fault(
            spec, f" could not be built: {event.get('message')}", "build this case"
        )
    if event.get("not_started") and event.get("type") == "NotImplementedError":
        return CaseOutcome(
            spec.index,
            spec.exercise,
            spec.name,
            NOT_STARTED,
            _("not started: {function}() still raises NotImplementedError.").format(
                function=spec.function
            ),
        )
    message = str(event.get("message", ""))
    if event.get("type") == "BorrowedAnswer":
        return CaseOutcome(
            spec.index, spec.exercise, spec.name, FAILED, plain_text(_on(spec.name, message))
        )
    where = f" ({event['where']})" if event.get("where") else ""
    text = f"{spec.function}() raised {event.get('type', 'an exception')}"
    text += f": {message}" if message else ""
    return CaseOutcome(
        spec.index, spec.exercise, spec.name, FAILED, plain_text(_on(spec.name, f"{text}{where}."))
    )


def _clear(path: Path) -> None:
    import shutil

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


def _preimport(stub: Path) -> None:
    """Import what the lesson's stub imports (and numpy, torch): students import those too."""
    import importlib

    names = {"numpy", "torch"}
    try:
        tree = ast.parse(stub.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        tree = ast.Module(body=[], type_ignores=[])
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    for name in sorted(names):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional module is the student's problem
            pass
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def main() -> None:
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # prints from libraries go to the log, never into the protocol

    def send(message: dict) -> None:
        proto.write(json.dumps(message) + "\n")
        proto.flush()

    config = json.loads(sys.stdin.readline())
    try:
        grader = Grader(config)
        isolation = grader.probe()
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one sentence
        import traceback

        traceback.print_exc()
        send({"error": plain_text(f"{type(exc).__name__}: {exc}", 400)})
        return
    send({"ready": True, "isolation": isolation})
    try:
        for line in sys.stdin:
            task = json.loads(line)
            source = base64.b64decode(task["source"])
            outcomes, problem, output = grader.grade(source)
            send(
                {
                    "student": task["student"],
                    "outcomes": [asdict(o) for o in outcomes],
                    "problem": asdict(problem) if problem else None,
                    "output": output,
                }
            )
    except BrokenPipeError:
        pass  # the parent is gone (Ctrl-C, kill -9): its rerun grades this student again
    finally:
        grader.close()


if __name__ == "__main__":
    main()
