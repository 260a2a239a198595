"""Finding each student's exercises.py in a class folder (folders, zips, one rule), safely.

One ``Submission`` per student folder or ``.zip``; links are refused, never followed; a file
that cannot even be compiled gets one sentence. Student ids are kept as they are;
``safe_stem`` is the one reversible escape for file names.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lessonlib.course.catalog import Lesson, exercises_candidates
from lessonlib.course.status import Status
from lessonlib.errors import LessonlibError

NOT_STARTED, SYNTAX_ERROR = Status.NOT_STARTED, Status.SYNTAX_ERROR
MAX_SOURCE_BYTES = 1_000_000


@dataclass
class Submission:
    """One student's file (or the reason there is none to run)."""

    student: str
    stem: str  # safe file name stem for results/<stem>.json and feedback/<stem>.md
    source: bytes | None = None
    status: str = ""  # set when the file cannot be run at all
    problem: str = ""  # one sentence for the feedback

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.source or self.problem.encode()).hexdigest()


_CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def safe_stem(student: str) -> str:
    """The file-name stem for ``student``'s results and feedback: the name itself.

    Any name Linux accepts survives (``Zoë_Núñez_张伟``). The one reversible escape: ``%``,
    ``/`` and NUL become ``%25``, ``%2F`` and ``%00``; a name that is ``.``/``..``, starts
    with ``.`` or is longer than 200 bytes gets ``%`` escapes for those bytes too.
    """
    text = student.replace("%", "%25").replace("/", "%2F").replace("\0", "%00")
    if text.startswith("."):
        text = "%2E" + text[1:]
    raw = text.encode("utf-8", "surrogateescape")
    if len(raw) > 200:
        digest = hashlib.sha1(raw).hexdigest()[:8]
        text = raw[:180].decode("utf-8", "ignore") + f"%~{digest}"
    return text


def student_from_stem(stem: str) -> str:
    """``safe_stem``'s inverse (for names under 200 bytes)."""
    import urllib.parse

    return urllib.parse.unquote(stem)


def _source_problem(source: bytes) -> tuple[str, str]:
    """(status, sentence) for a file that must not even be compiled, else ('', '')."""
    if len(source) > MAX_SOURCE_BYTES:
        return (
            NOT_STARTED,
            "exercises.py is larger than 1 MB; the grader does not run files that big.",
        )
    if not source.strip():
        return NOT_STARTED, "exercises.py is empty: nothing to grade yet."
    encoding = "utf-8-sig"
    for line in source.split(b"\n", 2)[:2]:  # PEP 263: a coding cookie on line 1 or 2
        cookie = _CODING.match(line.decode("latin-1"))
        if cookie:
            encoding = cookie.group(1)
            break
    try:
        codecs.lookup(encoding)
    except LookupError:
        return (
            SYNTAX_ERROR,
            f"exercises.py declares the text encoding {encoding[:30]!r}, "
            "which Python does not know.",
        )
    try:
        source.decode(encoding)
    except UnicodeDecodeError as exc:
        line = source[: exc.start].count(b"\n") + 1
        return SYNTAX_ERROR, (
            f"exercises.py is not UTF-8 text (line {line} has bytes that are not UTF-8); "
            "save it as UTF-8 and submit again."
        )
    return "", ""


def _read_regular(path: Path, base: Path) -> tuple[bytes | None, str]:
    """Bytes of ``path`` if it and every folder between it and ``base`` is no symlink."""
    current = base
    for part in path.relative_to(base).parts:
        current = current / part
        try:
            mode = current.lstat().st_mode
        except OSError:
            return None, ""
        if stat.S_ISLNK(mode):
            rel = current.relative_to(base.parent)
            return (
                None,
                f"{rel} is a symbolic link; the grader does not follow links: "
                "submit the file itself.",
            )
    if not stat.S_ISREG(mode):
        return None, ""
    with open(path, "rb") as fh:
        return fh.read(MAX_SOURCE_BYTES + 1), ""


def _from_folder(folder: Path, lesson: Lesson) -> tuple[bytes | None, str]:
    bases = [folder]
    inner = [p for p in sorted(folder.iterdir()) if not p.name.startswith((".", "__MACOSX"))]
    if len(inner) == 1 and inner[0].is_dir() and not inner[0].is_symlink():
        bases.append(inner[0])  # a download wrapped in one extra folder
    globbed = [
        f"lessons/{p.name}/exercises.py"
        for p in sorted((folder / "lessons").glob(f"{lesson.id}_*"))
        if (folder / "lessons").is_dir() and not (folder / "lessons").is_symlink()
    ]
    for base in bases:
        for rel in [*exercises_candidates(lesson), *globbed]:
            data, problem = _read_regular(base / rel, folder)
            if problem:
                return None, problem
            if data is not None:
                return data, ""
    return None, ""


def _from_zip(path: Path, lesson: Lesson) -> tuple[bytes | None, str]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return None, f"{path.name} is not a readable zip file."
    with archive:
        entries = {i.filename.replace("\\", "/").lstrip("/"): i for i in archive.infolist()}
        wanted = exercises_candidates(lesson)
        pattern = re.compile(
            rf"(?:[^/]+/)?(?:lessons/)?{lesson.id}_[^/]+/exercises\.py|"
            r"(?:[^/]+/)?exercises\.py"
        )
        names = [n for n in wanted if n in entries]
        names += sorted(n for n in entries if pattern.fullmatch(n) and n not in names)
        for name in names:
            info = entries[name]
            if stat.S_ISLNK(info.external_attr >> 16):
                return None, f"{name} in {path.name} is a symbolic link; submit the file itself."
            if info.file_size > MAX_SOURCE_BYTES:
                return b"\0" * (MAX_SOURCE_BYTES + 1), ""
            try:
                with archive.open(info) as fh:
                    return fh.read(MAX_SOURCE_BYTES + 1), ""
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError):
                return None, f"{name} in {path.name} cannot be extracted."
    return None, ""


def find_submissions(folder: Path, lesson: Lesson) -> list[Submission]:
    """One ``Submission`` per student folder or ``.zip`` in ``folder``, sorted by student id."""
    if not folder.is_dir():
        raise LessonlibError(
            f"{folder} is not a folder; give the folder holding one folder per student."
        )
    found: dict[str, Submission] = {}
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if name.startswith((".", "__MACOSX")):
            continue
        is_zip = name.lower().endswith(".zip")
        if not (entry.is_symlink() or entry.is_dir() or is_zip):
            continue
        student = name[:-4] if is_zip else name
        if student in found:
            student = name
        sub = Submission(student, safe_stem(student))
        found[student] = sub
        if entry.is_symlink():
            sub.status, sub.problem = (
                NOT_STARTED,
                (
                    f"{name} is a symbolic link; the grader does not follow links: "
                    "submit the files themselves."
                ),
            )
            continue
        source, problem = _from_zip(entry, lesson) if is_zip else _from_folder(entry, lesson)
        if problem:
            sub.status, sub.problem = NOT_STARTED, problem
        elif source is None:
            sub.status, sub.problem = (
                NOT_STARTED,
                (f"no exercises.py found (looked at the folder root and lessons/{lesson.slug}/)."),
            )
        else:
            sub.source = source
            sub.status, sub.problem = _source_problem(source)
    stems: dict[str, int] = {}
    for sub in found.values():
        stems[sub.stem] = stems.get(sub.stem, 0) + 1
    for sub in found.values():
        if stems[sub.stem] > 1:
            sub.stem = f"{sub.stem}-{hashlib.sha1(sub.student.encode()).hexdigest()[:8]}"
    return sorted(found.values(), key=lambda s: s.student)
