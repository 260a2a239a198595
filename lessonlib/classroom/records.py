"""From case outcomes to a student's record: verdicts per exercise, results.json (Gradescope's
format), the feedback page, the grade book row and the class summary."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lessonlib.classroom.submissions import Submission
from lessonlib.course.catalog import Lesson
from lessonlib.course.status import Status

# One vocabulary (lessonlib.course.status): a submission's row is graded / not started /
# syntax error / timed out / crashed; an exercise or a case is passed / failed or one of those.
GRADED, NOT_STARTED, SYNTAX_ERROR = Status.GRADED, Status.NOT_STARTED, Status.SYNTAX_ERROR
TIMED_OUT, CRASHED = Status.TIMED_OUT, Status.CRASHED
STATUSES = (GRADED, NOT_STARTED, SYNTAX_ERROR, TIMED_OUT, CRASHED)
PASSED, FAILED = Status.PASSED, Status.FAILED
RESULTS_FORMAT = 1


@dataclass
class CaseOutcome:
    """What happened to one case: passed / failed / not started / timed out / crashed / skipped."""

    index: int
    exercise: str
    name: str
    outcome: str
    message: str = ""
    hint: int | None = None  # the meta.toml hint (1-based) that fits this failure


@dataclass
class RunProblem:
    """A problem that stopped the whole submission (syntax error, crash or hang at import)."""

    status: str
    message: str


_HEX = re.compile(r"0x[0-9a-fA-F]{4,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def plain_text(text: str, limit: int = 400) -> str:
    """One line, no control characters or memory addresses, at most ``limit`` characters."""
    text = _HEX.sub("0x…", _CONTROL.sub("", str(text)))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def output_lines(raw: bytes, keep: int = 5, width: int = 160) -> list[str]:
    """The last few non-empty lines a submission printed, each cut to ``width``."""
    text = raw.decode("utf-8", errors="replace")
    lines = [plain_text(ln, width) for ln in text.splitlines() if ln.strip()]
    return lines[-keep:]


@dataclass
class ExerciseVerdict:
    id: str
    title: str
    points: int
    status: str
    message: str = ""
    hint: str = ""
    hint_number: int = 0

    @property
    def earned(self) -> int:
        return self.points if self.status == PASSED else 0


def _fold(lesson: Lesson, outcomes: list[CaseOutcome]) -> list[ExerciseVerdict]:
    verdicts = []
    for ex in lesson.exercises:
        mine = [o for o in outcomes if o.exercise == ex.id and o.outcome != "skipped"]
        first = None
        if mine and all(o.outcome == PASSED for o in mine):
            status, message = PASSED, ""
        elif not mine:
            status, message = FAILED, "this exercise was not run."
        else:
            order = (NOT_STARTED, TIMED_OUT, CRASHED, FAILED)
            first = min(
                (o for o in mine if o.outcome != PASSED),
                key=lambda o: (order.index(o.outcome) if o.outcome in order else 9, o.index),
            )
            status, message = first.outcome, first.message
        hint, number = "", 0
        if status != PASSED and ex.hints:
            number = first.hint if first is not None and status != NOT_STARTED else None
            if number is None:
                number = 1 if status == NOT_STARTED else min(2, len(ex.hints))
            number = max(1, min(number, len(ex.hints)))
            hint = ex.hints[number - 1]
        verdicts.append(ExerciseVerdict(ex.id, ex.title, ex.points, status, message, hint, number))
    return verdicts


def _row_status(verdicts: list[ExerciseVerdict]) -> str:
    statuses = {v.status for v in verdicts}
    if TIMED_OUT in statuses:
        return TIMED_OUT
    if CRASHED in statuses:
        return CRASHED
    if statuses == {NOT_STARTED}:
        return NOT_STARTED
    return GRADED


def make_record(
    lesson: Lesson,
    sub: Submission,
    grading_sha: str,
    outcomes: list[CaseOutcome] | None = None,
    problem: RunProblem | None = None,
    output: list[str] | None = None,
) -> dict:
    """The student's results.json (Gradescope's format; lessonlib's details in extra_data)."""
    if sub.status:
        problem = RunProblem(sub.status, sub.problem)
    if problem is not None:
        verdicts = [
            ExerciseVerdict(
                e.id,
                e.title,
                e.points,
                problem.status,
                problem.message,
                e.hints[0] if e.hints else "",
            )
            for e in lesson.exercises
        ]
        status = problem.status
    else:
        verdicts = _fold(lesson, outcomes or [])
        status = _row_status(verdicts)
    score = sum(v.earned for v in verdicts)
    tests = []
    for v in verdicts:
        text = "" if v.status == PASSED else v.message
        if v.hint:
            text = f"{text}\nNext hint: {v.hint}".strip()
        tests.append(
            {
                "name": f"{v.id} {v.title}",
                "number": v.id,
                "score": v.earned,
                "max_score": v.points,
                "status": PASSED if v.status == PASSED else FAILED,
                "output": text,
                "visibility": "visible",
            }
        )
    summary = f"Lesson {lesson.id} ({lesson.title}): {score}/{lesson.points} points, {status}."
    if problem is not None:
        summary += f" {problem.message}"
    return {
        "score": score,
        "output": summary,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "lessonlib": {
                "format": RESULTS_FORMAT,
                "student": sub.student,
                "lesson": lesson.id,
                "status": status,
                "max_score": lesson.points,
                "source_sha256": sub.digest,
                "grading_sha256": grading_sha,
                "problem": problem.message if problem is not None else "",
                "exercises": [
                    {
                        "id": v.id,
                        "title": v.title,
                        "points": v.points,
                        "earned": v.earned,
                        "status": v.status,
                        "message": v.message,
                        "hint": v.hint,
                    }
                    for v in verdicts
                ],
                "cases": [
                    {
                        "exercise": o.exercise,
                        "name": o.name,
                        "outcome": o.outcome,
                        "message": o.message,
                    }
                    for o in sorted(outcomes or [], key=lambda o: o.index)
                ],
                "output": output or [],
            }
        },
    }


def record_details(record: dict) -> dict:
    return record["extra_data"]["lessonlib"]


# ---------------------------------------------------------------- feedback and the grade book


# An _ between two letters or digits (Zoë_Núñez) cannot start emphasis: it stays as it is.
_MD_SPECIAL = re.compile(r"[\\`*\[\]|#]|(?<![^\W_])_|_(?![^\W_])")


def md_text(text: str) -> str:
    """``text`` as Markdown that renders as exactly these characters (code in hints and
    messages survives: ``n0 -> n3;``, ``__name__``, ``[label=...]``), and no HTML."""
    text = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def feedback_markdown(record: dict, lesson: Lesson) -> str:
    """The student's feedback page: points per exercise, what failed, the next hint."""
    info = record_details(record)
    lines = [
        f"# Lesson {lesson.id}: {lesson.title} — feedback for {md_text(info['student'])}",
        "",
        f"**Score: {record['score']} / {info['max_score']}** ({info['status']})",
        "",
    ]
    if info.get("problem"):
        lines += [f"What went wrong: {md_text(info['problem'])}", ""]
    lines += ["| exercise | points | result |", "|---|---|---|"]
    for ex in info["exercises"]:
        title = md_text(ex["title"])
        lines.append(f"| {ex['id']} {title} | {ex['earned']}/{ex['points']} | {ex['status']} |")
    for ex in [] if info.get("problem") else info["exercises"]:
        if ex["status"] == PASSED:
            continue
        lines += ["", f"## {ex['id']} {md_text(ex['title'])} — {ex['earned']}/{ex['points']}", ""]
        if ex["message"]:
            lines += [f"What went wrong: {md_text(ex['message'])}", ""]
        if ex["hint"]:
            lines.append(f"Next hint: {md_text(ex['hint'])}")
    if info["output"] and info["status"] in (CRASHED, TIMED_OUT):
        lines += ["", "## The last lines your code printed", ""]
        lines += [f"    {md_text(line)}" for line in info["output"]]
    passed = sum(1 for ex in info["exercises"] if ex["status"] == PASSED)
    todo = next((ex["id"] for ex in info["exercises"] if ex["status"] != PASSED), None)
    footer = f"{passed} of {len(info['exercises'])} exercises passed. Check your work any time "
    footer += f"with `lessonlib check {lesson.id}`"
    footer += f"; `lessonlib hint {todo}` shows the next hint." if todo else "."
    lines += ["", footer]
    return "\n".join(lines) + "\n"


def csv_header(lesson: Lesson) -> list[str]:
    return ["student", "score", "max_score", *(e.id for e in lesson.exercises), "status"]


def csv_row(record: dict) -> list[str]:
    info = record_details(record)
    earned = [str(ex["earned"]) for ex in info["exercises"]]
    return [info["student"], str(record["score"]), str(info["max_score"]), *earned, info["status"]]


@dataclass
class Summary:
    """Class-level numbers for the end-of-run table."""

    students: int = 0
    max_score: int = 0
    mean: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    distribution: dict[str, int] = field(default_factory=dict)  # "3" or "10–14" -> students
    pass_rates: dict[str, float] = field(default_factory=dict)


def summarise(records: list[dict], lesson: Lesson) -> Summary:
    out = Summary(students=len(records), max_score=lesson.points)
    if not records:
        return out
    scores = [r["score"] for r in records]
    out.mean = sum(scores) / len(scores)
    for status in STATUSES:
        out.statuses[status] = sum(1 for r in records if record_details(r)["status"] == status)
    width = 1 if lesson.points <= 12 else -(-(lesson.points + 1) // 10)
    for low in range(0, lesson.points + 1, width):
        high = min(low + width - 1, lesson.points)
        label = str(low) if low == high else f"{low}–{high}"
        out.distribution[label] = sum(1 for x in scores if low <= x <= high)
    for ex in lesson.exercises:
        passed = sum(
            1
            for r in records
            for e in record_details(r)["exercises"]
            if e["id"] == ex.id and e["status"] == PASSED
        )
        out.pass_rates[ex.id] = passed / len(records)
    return out
