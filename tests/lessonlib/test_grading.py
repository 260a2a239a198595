"""``lessonlib grade`` as a teacher uses it: a class of submissions in every shape, the files
it writes, partial credit per exercise, and resuming after ``kill -9``."""

from __future__ import annotations

import ast
import csv
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from lessonlib.classroom.cases import Case, Inputs
from lessonlib.classroom.grading import load_cases
from lessonlib.classroom.records import make_record, md_text
from lessonlib.classroom.submissions import Submission, find_submissions, safe_stem
from lessonlib.course.catalog import find_lesson
from lessonlib.errors import LessonlibError
from lessonlib.paths import project_root

ROOT = project_root()
LESSON = find_lesson("01")
SOLUTION = (ROOT / "solutions" / LESSON.slug / "exercises.py").read_text(encoding="utf-8")
STUB = LESSON.exercises_file.read_text(encoding="utf-8")
FULL = LESSON.points
IDS = [e.id for e in LESSON.exercises]


def without(function: str) -> str:
    """The solution with one function back to ``raise NotImplementedError``."""
    tree = ast.parse(SOLUTION)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            node.body = ast.parse("raise NotImplementedError").body
    return ast.unparse(tree) + "\n"


def write(folder: Path, rel: str, data: str | bytes) -> None:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def make_class(subs: Path) -> dict[str, tuple[int, str]]:
    """Write a class; returns student -> (expected score, expected status)."""
    expected: dict[str, tuple[int, str]] = {}
    write(subs / "root_file", "exercises.py", SOLUTION)
    expected["root_file"] = (FULL, "graded")
    write(subs / "repo_layout", f"lessons/{LESSON.slug}/exercises.py", SOLUTION)
    write(subs / "repo_layout", "lessons/02_other/exercises.py", "raise SystemExit")
    expected["repo_layout"] = (FULL, "graded")
    write(subs / "wrapped", "lesson-01-upload/exercises.py", SOLUTION)
    expected["wrapped"] = (FULL, "graded")
    with zipfile.ZipFile(subs / "zipped.zip", "w") as archive:
        archive.writestr(f"zipped/lessons/{LESSON.slug}/exercises.py", SOLUTION)
    expected["zipped"] = (FULL, "graded")
    for ex in LESSON.exercises:
        name = f"partial_{ex.id.replace('.', '_')}"
        write(subs / name, "exercises.py", without(ex.function))
        expected[name] = (FULL - ex.points, "graded")
    write(
        subs / "wrong_count",
        "exercises.py",
        SOLUTION.replace("return len(_nodes(output))", "return len(_nodes(output)) - 1"),
    )
    expected["wrong_count"] = (FULL - 2, "graded")
    write(
        subs / "latin1_declared",
        "exercises.py",
        ("# -*- coding: latin-1 -*-\n# café\n" + SOLUTION).encode("latin-1"),
    )
    expected["latin1_declared"] = (FULL, "graded")
    write(
        subs / "printer",
        "exercises.py",
        SOLUTION.replace(
            "def count_graph_nodes", "print('hello from the module')\n\n\ndef count_graph_nodes"
        ),
    )
    expected["printer"] = (FULL, "graded")
    write(subs / "stub", "exercises.py", STUB)
    expected["stub"] = (0, "not started")
    write(subs / "empty", "exercises.py", "\n\n")
    expected["empty"] = (0, "not started")
    (subs / "nothing_here").mkdir()
    write(subs / "nothing_here", "notes.txt", "I forgot")
    expected["nothing_here"] = (0, "not started")
    write(subs / "syntax", "exercises.py", SOLUTION + "\ndef oops(:\n")
    expected["syntax"] = (0, "syntax error")
    write(subs / "not_utf8", "exercises.py", b"# caf\xe9\n" + SOLUTION.encode())
    expected["not_utf8"] = (0, "syntax error")
    write(subs / "Ünïcode name (v2)", "exercises.py", SOLUTION)
    expected["Ünïcode name (v2)"] = (FULL, "graded")
    write(subs / "Zoë_Núñez_张伟", "exercises.py", SOLUTION)
    expected["Zoë_Núñez_张伟"] = (FULL, "graded")
    write(subs, ".hidden_folder/exercises.py", SOLUTION)
    write(subs, "README.txt", "not a student")
    return expected


def run_cli(*args: str, env: dict | None = None, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "lessonlib", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, COLUMNS="160", **(env or {})),
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    subs, out = base / "subs", base / "out"
    subs.mkdir()
    expected = make_class(subs)
    result = run_cli(
        "grade", str(subs), "--lesson", "01", "--out", str(out), "--jobs", "2", "--timeout", "20"
    )
    return {"subs": subs, "out": out, "expected": expected, "cli": result}


def rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return {r["student"]: r for r in csv.DictReader(fh)}


def test_every_student_has_the_expected_row(classroom):
    assert classroom["cli"].returncode == 0, classroom["cli"].stderr
    got = rows(classroom["out"])
    assert set(got) == set(classroom["expected"])
    for student, (score, status) in classroom["expected"].items():
        assert (int(got[student]["score"]), got[student]["status"]) == (score, status), student


def test_grades_csv_columns(classroom):
    header = (classroom["out"] / "grades.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == ["student", "score", "max_score", *IDS, "status"]
    row = rows(classroom["out"])["partial_01_3"]
    assert [int(row[i]) for i in IDS] == [
        e.points if e.id != "01.3" else 0 for e in LESSON.exercises
    ]
    assert int(row["max_score"]) == FULL


def test_results_follow_gradescope_format(classroom):
    for path in (classroom["out"] / "results").glob("*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(record["score"], int | float)
        assert [t["number"] for t in record["tests"]] == IDS
        for test in record["tests"]:
            assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
            assert 0 <= test["score"] <= test["max_score"]
        assert record["score"] == sum(t["score"] for t in record["tests"])


def test_feedback_says_what_failed_and_the_next_hint(classroom):
    text = (classroom["out"] / "feedback" / "wrong_count.md").read_text(encoding="utf-8")
    count = LESSON.exercises[1]
    assert f"| {count.id} {count.title} | 0/{count.points} | failed |" in text
    assert "torchviz draws" in text and "you counted" in text
    # one node short: the hint that fits is "count every node, root and leaves included"
    assert f"Next hint: {md_text(count.hints[2])}" in text
    stub = (classroom["out"] / "feedback" / "stub.md").read_text(encoding="utf-8")
    assert f"Next hint: {md_text(LESSON.exercises[0].hints[0])}" in stub
    assert "still raises NotImplementedError" in stub


def test_feedback_never_shows_the_solution(classroom):
    solution_lines = [ln.strip() for ln in SOLUTION.splitlines() if len(ln.strip()) > 25]
    for path in (classroom["out"] / "feedback").glob("*.md"):
        text = path.read_text(encoding="utf-8")
        assert not [ln for ln in solution_lines if ln in text], path.name


@pytest.mark.parametrize(
    ("student", "sentence"),
    [
        ("empty", "exercises.py is empty"),
        ("nothing_here", "no exercises.py found"),
        ("syntax", "does not compile: line"),
        ("not_utf8", "is not UTF-8 text (line 1"),
    ],
)
def test_unusable_submissions_get_one_sentence(classroom, student, sentence):
    feedback = (classroom["out"] / "feedback" / f"{safe_stem(student)}.md").read_text()
    assert sentence in feedback
    assert feedback.count(sentence) == 1


def test_cli_shows_progress_and_a_summary(classroom):
    text = classroom["cli"].stdout
    assert "grading" in text and "sandbox:" in text
    assert "mean score" in text and "01.1 passed" in text
    assert f"score {FULL}" in text


def test_rerun_reuses_every_result(classroom):
    before = {p.name: p.read_bytes() for p in (classroom["out"] / "results").iterdir()}
    again = run_cli(
        "grade", str(classroom["subs"]), "--lesson", "01", "--out", str(classroom["out"])
    )
    assert again.returncode == 0, again.stderr
    assert "ran 0 submissions" in again.stdout
    after = {p.name: p.read_bytes() for p in (classroom["out"] / "results").iterdir()}
    assert before == after


def test_kill_9_then_resume_gives_identical_files(classroom, tmp_path):
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "lessonlib",
        "grade",
        str(classroom["subs"]),
        "--lesson",
        "01",
        "--out",
        str(out),
        "--jobs",
        "1",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 180
    # Three unrunnable files are written at once; wait for a few graded ones, then kill.
    while time.monotonic() < deadline and len(list((out / "results").glob("*.json"))) < 6:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(list((out / "results").glob("*.json")))
    assert 0 < partial < len(classroom["expected"]), "the kill should land in the middle"
    assert not (out / "grades.csv").exists()
    resumed = run_cli("grade", str(classroom["subs"]), "--lesson", "01", "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert f"reused {partial} saved results" in resumed.stdout

    def files(folder: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()
        }

    assert files(out) == files(classroom["out"]), "resumed files differ from an uninterrupted run"
    owners = [p.read_text() for p in Path("/tmp").glob("lessonlib-grade-*/owner.pid")]
    assert str(proc.pid) not in owners, "the killed run's scratch folder is cleared"


# ---------------------------------------------------------------- discovery and records


def test_find_submissions_reads_folders_zips_and_refuses_links(tmp_path):
    write(tmp_path / "a", "exercises.py", "x = 1\n")
    write(tmp_path / "b", f"lessons/{LESSON.slug}/exercises.py", "x = 2\n")
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as archive:
        archive.writestr("c/exercises.py", "x = 3\n")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "exercises.py").symlink_to(tmp_path / "a" / "exercises.py")
    (tmp_path / "e").symlink_to(tmp_path / "a")
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "lessons").symlink_to(tmp_path / "b" / "lessons")
    found = {s.student: s for s in find_submissions(tmp_path, LESSON)}
    assert [found[k].source for k in "abc"] == [b"x = 1\n", b"x = 2\n", b"x = 3\n"]
    assert "not a readable zip" in found["bad"].problem
    for student in "def":
        assert found[student].source is None and "symbolic link" in found[student].problem


def test_safe_stems_keep_every_name_and_escape_only_slash_nul_and_percent():
    from lessonlib.classroom.submissions import student_from_stem

    for name in ("alice_01", "Zoë_Núñez_张伟", "a b", "x.json", "50%", "a/b", "nul\0x", ".dot"):
        stem = safe_stem(name)
        assert "/" not in stem and "\0" not in stem and not stem.startswith(".")
        assert student_from_stem(stem) == name
    assert safe_stem("Zoë_Núñez_张伟") == "Zoë_Núñez_张伟"
    assert safe_stem("a/b") == "a%2Fb" and safe_stem("50%") == "50%25"


def test_non_ascii_names_survive_in_every_file(classroom):
    name = "Zoë_Núñez_张伟"
    assert rows(classroom["out"])[name]["score"] == str(FULL)
    record = json.loads((classroom["out"] / "results" / f"{name}.json").read_text("utf-8"))
    assert record["extra_data"]["lessonlib"]["student"] == name
    assert name in (classroom["out"] / "feedback" / f"{name}.md").read_text("utf-8")


def test_make_record_for_a_problem_zeroes_every_exercise():
    sub = Submission("x", "x", b"", "not started", "exercises.py is empty: nothing to grade yet.")
    record = make_record(LESSON, sub, "digest")
    assert record["score"] == 0
    assert {t["status"] for t in record["tests"]} == {"failed"}
    assert record["extra_data"]["lessonlib"]["problem"].startswith("exercises.py is empty")


FAKE_BUILDERS = (
    "from lessonlib.classroom.cases import Case, Inputs\n\ndef two(n=2):\n    return Inputs(n)\n\n"
)


def _fake_course(tmp_path: Path, checks: str, hidden: str | None = None) -> Path:
    lesson = tmp_path / "lessons" / "01_fake"
    lesson.mkdir(parents=True)
    (lesson / "meta.toml").write_text(
        'title = "Fake"\n[[exercises]]\nid = "01.1"\ntitle = "t"\nfunction = "f"\npoints = 1\n'
        'hints = ["a"]\n'
    )
    (lesson / "exercises.py").write_text("def f():\n    raise NotImplementedError('TODO(01.1)')\n")
    (lesson / "checks.py").write_text(checks)
    if hidden is not None:
        (tmp_path / "solutions" / "01_fake").mkdir(parents=True)
        (tmp_path / "solutions" / "01_fake" / "hidden.py").write_text(hidden)
    return tmp_path


GOOD = FAKE_BUILDERS + "CASES = [Case('01.1', 'x', two, lambda g, i, f: None)]\n"


@pytest.mark.parametrize(
    ("checks", "hidden", "sentence"),
    [
        (
            GOOD,
            "from lessonlib.classroom.cases import Case, Inputs\n"
            "def build():\n    return Inputs()\n"
            "CASES = [Case('01.1', 'x', build, lambda g, i, f: None)]\n",
            "hidden cases build their inputs with builders of the lesson's checks.py",
        ),
        (
            FAKE_BUILDERS + "CASES = [Case('01.9', 'x', two, lambda g, i, f: None)]\n",
            None,
            "unknown exercise 01.9",
        ),
        (
            "from functools import partial\n"
            + FAKE_BUILDERS
            + "CASES = [Case('01.1', 'x', partial(two, n=object()), lambda g, i, f: None)]\n",
            None,
            "plain data",
        ),
        ("CASES = []\n", None, "must define CASES"),
    ],
)
def test_case_files_are_checked(tmp_path, checks, hidden, sentence):
    root = _fake_course(tmp_path, checks, hidden)
    lesson = find_lesson("01", root)
    with pytest.raises(LessonlibError, match=sentence):
        load_cases(lesson, root)


def test_a_good_case_file_loads_as_plain_specs(tmp_path):
    root = _fake_course(
        tmp_path,
        "from functools import partial\n"
        + FAKE_BUILDERS
        + "CASES = [Case('01.1', 'two', partial(two, n=3), lambda g, i, f: None)]\n",
    )
    cases, specs = load_cases(find_lesson("01", root), root)
    assert isinstance(cases[0], Case)
    assert specs[0].to_json() == {
        "index": 0,
        "exercise": "01.1",
        "function": "f",
        "module": "lessonlib_checks_01",
        "path": str(root / "lessons" / "01_fake" / "checks.py"),
        "qualname": "two",
        "args": [],
        "kwargs": {"n": 3},
    }
    assert isinstance(Inputs(1, a=2).args, tuple)


def test_grade_refuses_a_lesson_without_cases_and_an_out_inside_submissions(tmp_path):
    subs = tmp_path / "subs"
    write(subs / "a", "exercises.py", SOLUTION)
    out = run_cli("grade", str(subs), "--lesson", "01", "--out", str(subs / "out"))
    assert out.returncode == 2 and "must not be inside the submissions folder" in out.stderr
    out = run_cli(
        "grade", str(tmp_path / "missing"), "--lesson", "01", "--out", str(tmp_path / "o")
    )
    assert out.returncode == 2 and "is not a folder" in out.stderr


# ---------------------------------------------------------------- input files and services

BLOB = b"\x00grader-bytes\xff"

FILES_AND_SERVICE_META = """title = "Fake"
[[exercises]]
id = "01.1"
title = "read files"
function = "read_files"
points = 1
hints = ["a"]

[[exercises]]
id = "01.2"
title = "post to a server"
function = "post_window"
points = 1
hints = ["a"]
"""

FILES_AND_SERVICE_INPUTS = """from pathlib import Path

from lessonlib.classroom.cases import InputFile, Inputs, ServiceURL


def _seen(args):
    Path("seen.txt").write_text(args[0])  # in the case's folder, just before the call


def files(seed=0):
    inputs = Inputs(
        InputFile("data/blob.bin", b"\\x00grader-bytes\\xff"),
        {"more": [InputFile("note.txt", b"hello")]},
    )
    inputs.before = _seen
    return inputs


def server(env="env_x"):
    return Inputs(ServiceURL("visdom"), env)
"""

FILES_AND_SERVICE_CASES = """import os
from pathlib import Path

from lessonlib.classroom.cases import Case, ServiceURL


def check_files(got, inputs, files):
    path, data, note = got
    assert data == b"\\x00grader-bytes\\xff" and note == "hello", "wrong bytes"
    assert os.path.isabs(path) and path.endswith("/data/blob.bin"), f"odd path {path}"
    mine = inputs.args[0]
    assert isinstance(mine, str) and mine != path, "the grader must have its own copy"
    assert Path(mine).read_bytes() == b"\\x00grader-bytes\\xff", "the grader's copy changed"
    assert Path(inputs.args[1]["more"][0]).read_text() == "hello"
    assert (files / "seen.txt").read_text() == path, "the before hook did not run first"


def check_server(got, inputs, files, state):
    assert isinstance(inputs.args[0], ServiceURL)
    assert got is True, f"got {got!r}"
    window = state.get(inputs.args[1], {}).get("w1")
    assert window is not None, f"no window w1: {sorted(state)}"
    assert window["content"] == "hi", "wrong content"


CASES = [
    Case("01.1", "two input files", files, check_files),
    Case("01.2", "a visdom server", server, check_server, service="visdom"),
    Case("01.2", "another visdom server", server, check_server, service="visdom"),
]
"""

FILES_AND_SERVICE_SOLUTION = """import json
import os
import urllib.request


def read_files(path, nested):
    with open(path, "rb") as fh:
        data = fh.read()
    os.chmod(path, 0o644)
    with open(path, "wb") as fh:  # its own copy: the grader's stays as it was
        fh.write(b"changed")
    with open(nested["more"][0], encoding="utf-8") as fh:
        return [path, data, fh.read()]


def post_window(url, env):
    body = {"eid": env, "win": "w1", "data": [{"content": "hi", "type": "text"}], "opts": {}}
    request = urllib.request.Request(url + "/events", data=json.dumps(body).encode())
    urllib.request.urlopen(request, timeout=5).read()
    return url.startswith("http://127.0.0.1:")
"""


@pytest.fixture(scope="module")
def files_and_service(tmp_path_factory):
    """A two-exercise course whose cases use InputFile and a visdom service, graded once."""
    root = tmp_path_factory.mktemp("course")
    lesson = root / "lessons" / "01_fake"
    lesson.mkdir(parents=True)
    (lesson / "meta.toml").write_text(FILES_AND_SERVICE_META)
    (lesson / "exercises.py").write_text(
        "def read_files(path, nested):\n    raise NotImplementedError('TODO(01.1)')\n\n\n"
        "def post_window(url, env):\n    raise NotImplementedError('TODO(01.2)')\n"
    )
    (lesson / "checks.py").write_text(FILES_AND_SERVICE_INPUTS + "\n\n" + FILES_AND_SERVICE_CASES)
    subs = root.parent / f"{root.name}-subs"
    write(subs / "solution", "exercises.py", FILES_AND_SERVICE_SOLUTION)
    write(subs / "stub", "exercises.py", (lesson / "exercises.py").read_text())
    write(
        subs / "no_post",
        "exercises.py",
        FILES_AND_SERVICE_SOLUTION.replace(
            "    urllib.request.urlopen(request, timeout=5).read()\n", ""
        ),
    )
    out = root.parent / f"{root.name}-out"
    result = run_cli(
        "grade", str(subs), "--lesson", "01", "--out", str(out), "--jobs", "1",
        env={"LESSONLIB_ROOT": str(root)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    records = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    return {"records": records, "stdout": result.stdout}


def _earned(record: dict) -> dict[str, int]:
    return {e["id"]: e["earned"] for e in record["extra_data"]["lessonlib"]["exercises"]}


def _messages(record: dict) -> str:
    return json.dumps(record["extra_data"]["lessonlib"]["cases"])


def test_input_files_reach_the_function_by_path_and_the_grader_keeps_its_own_copy(
    files_and_service,
):
    records = files_and_service["records"]
    assert _earned(records["solution"])["01.1"] == 1, _messages(records["solution"])
    assert _earned(records["stub"]) == {"01.1": 0, "01.2": 0}


def test_a_service_case_is_checked_against_the_servers_own_state(files_and_service):
    records = files_and_service["records"]
    assert _earned(records["solution"])["01.2"] == 1, _messages(records["solution"])
    no_post = records["no_post"]
    assert _earned(no_post) == {"01.1": 1, "01.2": 0}
    assert "no window w1" in _messages(no_post)


def test_resolve_inputs_writes_files_and_leaves_service_urls_to_the_sandbox(tmp_path):
    from lessonlib.classroom.cases import InputFile, ServiceUnavailable, ServiceURL, resolve_inputs

    built = Inputs(
        InputFile("a/b.bin", BLOB), [InputFile("c.txt", b"x")], url=ServiceURL("visdom"), n=3
    )
    grader = resolve_inputs(built, tmp_path / "grader", None)
    assert Path(grader.args[0]).read_bytes() == BLOB
    assert Path(grader.args[0]) == tmp_path / "grader" / "a" / "b.bin"
    assert Path(grader.args[1][0]).read_bytes() == b"x"
    assert isinstance(grader.kwargs["url"], ServiceURL) and grader.kwargs["n"] == 3
    sandbox = resolve_inputs(built, tmp_path / "sandbox", {"visdom": "http://127.0.0.1:9"})
    assert sandbox.kwargs["url"] == "http://127.0.0.1:9"
    with pytest.raises(ServiceUnavailable):
        resolve_inputs(built, tmp_path / "none", {})
    with pytest.raises(ValueError, match="two input files"):
        resolve_inputs(Inputs(InputFile("x", b"1"), InputFile("x", b"2")), tmp_path / "d", None)
    for bad in ("../up", "/abs", "a//b", "."):
        with pytest.raises(ValueError, match="plain relative path"):
            InputFile(bad, b"")


def test_a_case_naming_an_unknown_service_is_refused(tmp_path):
    root = _fake_course(
        tmp_path,
        FAKE_BUILDERS
        + "CASES = [Case('01.1', 'x', two, lambda g, i, f, s: None, service='redis')]\n",
    )
    with pytest.raises(LessonlibError, match="unknown service 'redis'"):
        load_cases(find_lesson("01", root), root)


def test_grading_runs_get_disjoint_sandbox_uids():
    from lessonlib.classroom.confine import SANDBOX_UID_BASE, SERVICE_UID_OFFSET
    from lessonlib.classroom.grade_run import run_uid_base

    bases = {run_uid_base(pid) for pid in (1, 2, 4242, 499_999)}
    assert len(bases) == 4 and min(bases) >= SANDBOX_UID_BASE and max(bases) < 2**31
    highest = SERVICE_UID_OFFSET + 16  # a service uid of the last of at most 16 job slots
    ordered = sorted(bases)
    assert all(b + highest < c for b, c in zip(ordered[:-1], ordered[1:], strict=True))
