"""Hostile submissions, graded in one class: none may raise its score, touch anyone else's
row, read or change the instructor's files, leak the hidden checks, or stop the run.

Every hostile student is built from the real solution (so the honest part of its score is
known) with one function, or the top of the module, replaced by an attack.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import socket
import threading
import time
import zipfile
from pathlib import Path

import pytest

from lessonlib.classroom.grade_run import grade
from lessonlib.course.catalog import find_lesson
from lessonlib.paths import project_root

ROOT = project_root()
LESSON = find_lesson("01")
SOLUTION = (ROOT / "solutions" / LESSON.slug / "exercises.py").read_text(encoding="utf-8")
STUB = LESSON.exercises_file.read_text(encoding="utf-8")
HIDDEN = ROOT / "solutions" / LESSON.slug / "hidden.py"
SECRET = "s3cr3t-token-for-the-leak-test"
POINTS = {e.function: e.points for e in LESSON.exercises}
FULL = LESSON.points


def with_body(function: str, body: str, prelude: str = "", source: str = SOLUTION) -> str:
    """The solution with ``function``'s body replaced by ``body`` (and ``prelude`` on top)."""
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            node.body = ast.parse(body).body
    return prelude + "\n" + ast.unparse(tree) + "\n"


def prepend(code: str, source: str) -> str:
    """``source`` with ``code`` run first (after the ``from __future__`` line, which must lead)."""
    marker = "from __future__ import annotations\n"
    head, found, tail = source.partition(marker)
    return head + found + code + tail if found else code + source


def _protected_files() -> dict[Path, str]:
    """Lesson 01's instructor files (other lessons' files may change while this runs)."""
    paths = [
        ROOT / "solutions" / LESSON.slug / "exercises.py",
        LESSON.exercises_file,
        LESSON.path / "meta.toml",
        ROOT / "tests" / "conftest.py",
        HIDDEN,
        LESSON.checks_file,
        ROOT / "lessonlib" / "classroom" / "grading.py",
    ]
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


class Listener:
    """A TCP port on 127.0.0.1 that records whether anyone connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        self.sock.close()


def submissions(subs: Path, out: Path, port: int) -> dict[str, str | bytes]:
    sol_path = ROOT / "solutions" / LESSON.slug / "exercises.py"
    targets = {
        "read": [
            str(sol_path),
            str(HIDDEN),
            str(LESSON.checks_file),
        ],
        "write": [
            str(LESSON.exercises_file),
            str(ROOT / "tests" / "conftest.py"),
            str(sol_path),
            str(out / "grades.csv"),
            str(out / "results" / "control_full.json"),
            str(out / "results" / "tamper.json"),
            str(subs / "control_stub" / "exercises.py"),
            str(ROOT / "lessonlib" / "classroom" / "grading.py"),
        ],
    }
    return {
        "control_full": SOLUTION,
        "control_stub": STUB,
        "crash_exit": with_body("count_graph_nodes", "import os\nos._exit(3)"),
        "crash_segfault": with_body("backward_graph_dot", "import ctypes\nctypes.string_at(0)"),
        "crash_at_import": prepend("import ctypes\nctypes.string_at(0)\n", SOLUTION),
        "hang_function": with_body("path_to_parameter", "while True:\n    pass"),
        "hang_import": prepend("import time\ntime.sleep(10**6)\n", SOLUTION),
        "memory_bomb": with_body(
            "leaf_names",
            "huge = bytearray(64 * 2**30)\nblocks = []\n"
            "while True:\n    blocks.append(bytearray(64 * 2**20))",
        ),
        "fork_bomb": with_body(
            "path_to_parameter",
            "import os\nwhile True:\n    try:\n"
            "        os.fork()\n    except OSError:\n        pass",
        ),
        "output_flood": prepend(
            "import sys\nfor _ in range(4000):\n    print('x' * 10000)\n"
            "    sys.stderr.write('y' * 10000 + '\\n')\n",
            SOLUTION,
        ),
        "result_flood": prepend("import os\nos.write(3, b'{' * (80 * 2**20))\n", SOLUTION),
        "forged_results": with_body(
            "leaf_names",
            (
                "import json, os\n"
                "for i in range(40):\n"
                "    line = {'event': 'end', 'case': i, 'value': ['?'],\n"
                "            'passed': True, 'score': 8}\n"
                "    os.write(3, (json.dumps(line) + '\\n').encode())\n"
                "    print(json.dumps(line))\n"
                'os.write(3, b\'{"event": "verdict", "score": 8, "status": "graded"}\\n\')\n'
                "return ['?']"
            ),
            prelude="",
        )
        .replace("return len(_nodes(output))", "return -1")
        .replace("return '\\n'.join(lines)", "return 'digraph { a }'")
        .replace("return path[::-1]", "return ['?']"),
        "monkeypatch": prepend(
            "import builtins, json, sys, torch\n"
            "builtins.isinstance = lambda *a: True\n"
            "builtins.sorted = lambda x, *a, **k: ['b', 'w']\n"
            "torch.allclose = lambda *a, **k: True\n"
            "torch.Tensor.__eq__ = lambda *a: True\n"
            'json.dumps = lambda *a, **k: \'{"event": "end", "case": 0, "value": ["b", "w"]}\'\n'
            "for name in list(sys.modules):\n"
            "    if 'plaindata' in name:\n"
            "        sys.modules[name].encode = lambda v: ['b', 'w']\n",
            STUB.replace('raise NotImplementedError("TODO(01.1)")', "return 0")
            .replace('raise NotImplementedError("TODO(01.2)")', "return 5")
            .replace('raise NotImplementedError("TODO(01.3)")', "return 'digraph {}'")
            .replace('raise NotImplementedError("TODO(01.4)")', "return ['x']"),
        ),
        "custom_objects": prepend(
            "import os, torch\n"
            "class Yes:\n"
            "    def __eq__(self, other): return True\n"
            "    def __reduce__(self): return (os.system, ('touch " + str(out / "PWNED") + "',))\n"
            "class Str(str):\n"
            "    def __eq__(self, other): return True\n"
            "class Lst(list):\n"
            "    def __eq__(self, other): return True\n"
            "class Int(int):\n"
            "    def __eq__(self, other): return True\n",
            STUB.replace('raise NotImplementedError("TODO(01.1)")', "return Lst()")
            .replace('raise NotImplementedError("TODO(01.2)")', "return Int(3)")
            .replace('raise NotImplementedError("TODO(01.3)")', "return Str('x')")
            .replace('raise NotImplementedError("TODO(01.4)")', "return Yes()"),
        ),
        "tamper": with_body(
            "leaf_names",
            (
                "import os\n"
                f"targets = {targets!r}\n"
                "did = []\n"
                "for path in targets['read']:\n"
                "    try:\n"
                "        did.append('read ' + path + ' ' + open(path).read()[:20])\n"
                "    except OSError:\n"
                "        pass\n"
                "for path in targets['write']:\n"
                "    try:\n"
                "        with open(path, 'a') as fh:\n"
                "            fh.write('tampered')\n"
                "        did.append('wrote ' + path)\n"
                "    except OSError:\n"
                "        pass\n"
                "raise RuntimeError('did=' + repr(did))"
            ),
        ),
        "leak_hidden": with_body(
            "path_to_parameter",
            (
                "import gc, glob, inspect, os, sys\n"
                "found = []\n"
                f"for top in ('/work', '/tmp', '/root', '/home', '/opt', {str(ROOT)!r}):\n"
                "  for path in glob.glob(top + '/**/hidden.py', recursive=True)[:5]:\n"
                "    try:\n"
                "      found.append(open(path).read())\n"
                "    except OSError:\n"
                "      pass\n"
                "for name, mod in list(sys.modules.items()):\n"
                "    if name.startswith('lessonlib_hidden'):\n"
                "        try:\n"
                "            found.append(inspect.getsource(mod))\n"
                "        except Exception:\n"
                "            found.append(repr(vars(mod).keys()))\n"
                "for obj in gc.get_objects():\n"
                "    name = obj.__code__.co_filename if inspect.isfunction(obj) else ''\n"
                "    if name.endswith('hidden.py'):\n"
                "        found.append(repr(obj.__code__.co_consts))\n"
                "text = ' | '.join(found) or 'nothing found'\n"
                "print(text)\n"
                "os._exit(1)"
            ),
        ),
        "env_leak": with_body(
            "leaf_names",
            (
                "import os\n"
                "text = repr(dict(os.environ))\n"
                "for path in ('/proc/self/environ', '/proc/1/environ'):\n"
                "    try:\n"
                "        text += open(path, 'rb').read().decode('latin-1')\n"
                "    except OSError:\n"
                "        pass\n"
                "raise RuntimeError(text[-200:])"
            ),
        ),
        "network": with_body(
            "leaf_names",
            (
                "import socket\n"
                "outcome = []\n"
                f"for host in ('127.0.0.1', 'localhost', 'pypi.org'):\n"
                "    try:\n"
                f"        socket.create_connection((host, {port}), timeout=2).close()\n"
                "        outcome.append('connected ' + host)\n"
                "    except OSError as exc:\n"
                "        outcome.append(type(exc).__name__)\n"
                "own = socket.create_server(('127.0.0.1', 0))\n"
                "socket.create_connection(own.getsockname(), timeout=2).close()\n"
                "outcome.append('own loopback ok')\n"
                "raise RuntimeError('network=' + repr(outcome))"
            ),
        ),
        "kill_everything": prepend(
            "import os, signal\n"
            "try:\n"
            "    os.kill(-1, signal.SIGKILL)\n"
            "except OSError:\n"
            "    pass\n"
            "for pid in range(1, 5000):\n"
            "    try:\n"
            "        os.kill(pid, signal.SIGKILL)\n"
            "    except OSError:\n"
            "        pass\n",
            SOLUTION,
        ),
        "borrow_reference": with_body(
            "count_graph_nodes",
            "from lessonlib.classroom.references.torchviz import torchviz_graph\n"
            "return torchviz_graph(output).number_of_nodes()",
        ),
        "borrow_judge_helper": with_body(
            "leaf_names",
            "import sys\n"
            "return sys.modules['lessonlib_checks_01'].autograd_leaves(output, named_tensors)",
        ),
        "borrow_and_swallow": with_body(
            "count_graph_nodes",
            "from lessonlib.classroom.references.torchviz import torchviz_graph\n"
            "try:\n    torchviz_graph(output)\nexcept Exception:\n    pass\n"
            "return len(_nodes(output))",
        ),
        "syntax_error": SOLUTION + "\ndef broken(:\n",
        "not_utf8": b"# caf\xe9\n" + SOLUTION.encode(),
        "empty": "",
    }


def _sandbox_processes(settle: float = 3.0) -> list[str]:
    """Processes still running under a sandbox uid (a process being reaped gets ``settle`` s)."""
    deadline = time.monotonic() + settle
    while True:
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid >= 3_000_000:
                        found.append(entry)
                except FileNotFoundError:
                    pass
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    subs, out = base / "subs", base / "out"
    subs.mkdir()
    listener = Listener()
    before = _protected_files()
    for student, source in submissions(subs, out, listener.port).items():
        folder = subs / student
        folder.mkdir()
        data = source if isinstance(source, bytes) else source.encode()
        (folder / "exercises.py").write_bytes(data)
    link = subs / "symlink_to_solution"
    link.mkdir()
    (link / "exercises.py").symlink_to(ROOT / "solutions" / LESSON.slug / "exercises.py")
    (subs / "symlinked_folder").symlink_to(ROOT / "solutions" / LESSON.slug)
    with zipfile.ZipFile(subs / "zip_with_link.zip", "w") as archive:
        info = zipfile.ZipInfo("exercises.py")
        info.external_attr = 0o120777 << 16
        archive.writestr(info, str(ROOT / "solutions" / LESSON.slug / "exercises.py"))
    os.environ["LESSONLIB_TEST_SECRET"] = SECRET
    try:
        report = grade(subs, "01", out, jobs=2, timeout=6, memory_mb=512)
    finally:
        os.environ.pop("LESSONLIB_TEST_SECRET", None)
        listener.close()
    rows = {r["extra_data"]["lessonlib"]["student"]: r for r in report.records}
    return {
        "rows": rows,
        "out": out,
        "before": before,
        "after": _protected_files(),
        "listener": listener,
        "leftovers": _sandbox_processes(),
    }


def row(graded, student):
    record = graded["rows"][student]
    return record["score"], record["extra_data"]["lessonlib"]["status"], record


def message(record, exercise):
    return next(
        e["message"] for e in record["extra_data"]["lessonlib"]["exercises"] if e["id"] == exercise
    )


def test_every_student_gets_a_row_and_controls_are_untouched(graded):
    assert len(graded["rows"]) == len(submissions(Path("/x"), Path("/y"), 1)) + 3
    assert row(graded, "control_full")[:2] == (FULL, "graded")
    assert row(graded, "control_stub")[:2] == (0, "not started")


@pytest.mark.parametrize(
    ("student", "score", "status", "broken"),
    [
        ("crash_exit", FULL - POINTS["count_graph_nodes"], "crashed", "01.2"),
        ("crash_segfault", FULL - POINTS["backward_graph_dot"], "crashed", "01.3"),
        ("hang_function", FULL - POINTS["path_to_parameter"], "timed out", "01.4"),
        ("fork_bomb", FULL - POINTS["path_to_parameter"], "timed out", "01.4"),
        ("memory_bomb", FULL - POINTS["leaf_names"], "graded", "01.1"),
    ],
)
def test_a_broken_function_costs_only_its_own_points(graded, student, score, status, broken):
    got, got_status, record = row(graded, student)
    assert (got, got_status) == (score, status)
    assert message(record, broken), "the feedback says what went wrong"


def test_the_segfault_and_the_memory_bomb_are_named(graded):
    assert "segmentation fault" in message(row(graded, "crash_segfault")[2], "01.3")
    assert "MemoryError" in message(row(graded, "memory_bomb")[2], "01.1")


@pytest.mark.parametrize(
    ("student", "status"),
    [
        ("crash_at_import", "crashed"),
        ("hang_import", "timed out"),
        ("result_flood", "crashed"),
        ("syntax_error", "syntax error"),
        ("not_utf8", "syntax error"),
        ("empty", "not started"),
        ("symlink_to_solution", "not started"),
        ("symlinked_folder", "not started"),
        ("zip_with_link", "not started"),
    ],
)
def test_unrunnable_submissions_get_zero_and_a_sentence(graded, student, status):
    score, got_status, record = row(graded, student)
    assert (score, got_status) == (0, status)
    feedback = (graded["out"] / "feedback" / f"{student}.md").read_text()
    assert record["extra_data"]["lessonlib"]["problem"] in feedback


def test_links_to_the_solution_are_refused_not_followed(graded):
    for student in ("symlink_to_solution", "symlinked_folder", "zip_with_link"):
        assert "symbolic link" in row(graded, student)[2]["extra_data"]["lessonlib"]["problem"]


def test_forged_results_and_monkeypatching_earn_nothing(graded):
    for student in ("forged_results", "monkeypatch", "custom_objects"):
        score, status, _ = row(graded, student)
        assert score == 0, student
    assert not (graded["out"] / "PWNED").exists(), "a __reduce__ payload ran"
    assert "not plain data" in message(row(graded, "custom_objects")[2], "01.4")


@pytest.mark.parametrize(
    ("student", "exercise"),
    [
        ("borrow_reference", "01.2"),
        ("borrow_judge_helper", "01.1"),
        ("borrow_and_swallow", "01.2"),
    ],
)
def test_borrowed_answers_earn_nothing_and_say_why(graded, student, exercise):
    score, status, record = row(graded, student)
    points = next(e.points for e in LESSON.exercises if e.id == exercise)
    assert (score, status) == (FULL - points, "graded"), record
    assert "off limits" in message(record, exercise)


def test_output_floods_are_capped_and_do_not_matter(graded):
    score, status, record = row(graded, "output_flood")
    assert (score, status) == (FULL, "graded")
    assert len(record["extra_data"]["lessonlib"]["output"]) <= 5
    assert all(len(line) <= 160 for line in record["extra_data"]["lessonlib"]["output"])


def test_instructor_files_cannot_be_read_or_changed(graded):
    assert graded["before"] == graded["after"]
    text = message(row(graded, "tamper")[2], "01.1")
    assert "did=[]" in text, text
    grades = (graded["out"] / "grades.csv").read_text()
    assert "tampered" not in grades


def test_hidden_checks_never_reach_feedback(graded):
    code_lines = [
        ln.strip()
        for ln in HIDDEN.read_text().splitlines()
        if ln.strip().startswith(("def ", "assert ", "import ", "from ", "return "))
    ]
    for student in graded["rows"]:
        feedback = (graded["out"] / "feedback" / f"{student}.md").read_text()
        results = (graded["out"] / "results" / f"{student}.json").read_text()
        for line in code_lines:
            assert line not in feedback and line not in results, (student, line)
    record = row(graded, "leak_hidden")[2]
    assert record["extra_data"]["lessonlib"]["status"] == "crashed"
    assert "nothing found" in " ".join(record["extra_data"]["lessonlib"]["output"])


def test_no_secret_from_the_environment_and_no_network(graded):
    assert SECRET not in json.dumps(row(graded, "env_leak")[2])
    assert graded["listener"].connections == 0
    text = message(row(graded, "network")[2], "01.1")
    assert "connected" not in text and "network=" in text
    assert "own loopback ok" in text  # its own namespace's 127.0.0.1 works (gloo needs it)


def test_killing_everything_in_reach_harms_no_one(graded):
    assert row(graded, "kill_everything")[:2] == (FULL, "graded")


def test_no_sandbox_process_outlives_the_run(graded):
    assert graded["leftovers"] == []


# ---------------------------------------------------------------- where namespaces are refused


@pytest.fixture(scope="module")
def fallback(tmp_path_factory):
    """The same grader with namespaces off: what a locked-down container gives."""
    base = tmp_path_factory.mktemp("fallback")
    subs, out = base / "subs", base / "out"
    all_subs = submissions(subs, out, 1)
    for student in ("control_full", "control_stub", "fork_bomb", "tamper"):
        (subs / student).mkdir(parents=True)
        (subs / student / "exercises.py").write_text(all_subs[student])
    before = _protected_files()
    os.environ["LESSONLIB_SANDBOX_NAMESPACES"] = "off"
    try:
        report = grade(subs, "01", out, jobs=1, timeout=4)
    finally:
        os.environ.pop("LESSONLIB_SANDBOX_NAMESPACES")
    rows = {r["extra_data"]["lessonlib"]["student"]: r for r in report.records}
    return {
        "rows": rows,
        "isolation": report.isolation,
        "before": before,
        "after": _protected_files(),
        "leftovers": _sandbox_processes(),
    }


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid drop and sweep need root")
def test_without_namespaces_rows_limits_and_the_uid_still_hold(fallback):
    iso = fallback["isolation"]
    assert iso["namespaces"] == "none" and not iso["mounts"] and iso["uid_dropped"]
    scores = {
        s: (r["score"], r["extra_data"]["lessonlib"]["status"]) for s, r in fallback["rows"].items()
    }
    assert scores["control_full"] == (FULL, "graded")
    assert scores["control_stub"] == (0, "not started")
    assert scores["fork_bomb"] == (FULL - POINTS["path_to_parameter"], "timed out")
    assert fallback["leftovers"] == [], "the uid sweep ends every forked process"
    assert fallback["before"] == fallback["after"]
    assert "wrote" not in message(fallback["rows"]["tamper"], "01.1")


# ---------------------------------------------------------------- lesson 05: a Visdom server

LESSON_05 = find_lesson("05")
SOLUTION_05 = (ROOT / "solutions" / LESSON_05.slug / "exercises.py").read_text(encoding="utf-8")
STUB_05 = LESSON_05.exercises_file.read_text(encoding="utf-8")
POINTS_05 = {e.id: e.points for e in LESSON_05.exercises}
CLIENT = (
    "import json\n"
    "from urllib.parse import urlparse\n"
    "from visdom import Visdom\n"
    "url = urlparse(server_url)\n"
    "viz = Visdom(server=f'http://{url.hostname}', port=url.port, raise_exceptions=True,\n"
    "             use_incoming_socket=False)\n"
)
HONEST_REPLAY = (
    "viz.replay_log(log_path)\nresult = sorted(json.loads(viz.get_window_data(env=env)))\n"
)


def visdom_submissions(bait: Path) -> dict[str, str]:
    """Lesson 05 submissions that go after the server the grader runs for 05.4."""
    return {
        "v_control_full": SOLUTION_05,
        "v_control_stub": STUB_05,
        # Writes into envs of its own and asks the server to save and delete files (the
        # bait is a real file outside the server's folder), then replays honestly.
        "v_poisoner": with_body(
            "replay_into_server",
            CLIENT + HONEST_REPLAY + "viz.text('poisoned', win='poison', env='poison')\n"
            "viz.save(['poison'])\n"
            f"bait = {str(bait.with_suffix(''))!r}\n"
            "for eid in ('../../../../../..' + bait, bait):\n"
            "    for endpoint in ('delete_env', 'save'):\n"
            "        try:\n"
            "            viz._send({'eid': eid, 'data': [eid]}, endpoint=endpoint)\n"
            "        except Exception:\n"
            "            pass\n"
            "return result",
            source=SOLUTION_05,
        ),
        # Replays honestly, then returns every env it saw on its server for three seconds.
        "v_snooper": with_body(
            "replay_into_server",
            CLIENT + HONEST_REPLAY + "import time\n"
            "seen = set()\n"
            "end = time.monotonic() + 3\n"
            "while time.monotonic() < end:\n"
            "    seen.update(viz.get_env_list())\n"
            "    time.sleep(0.2)\n"
            "return sorted(seen)",
            source=SOLUTION_05,
        ),
        # 05.1's function looks for any listening socket it can reach (the 05.4 server).
        "v_other_exercise": with_body(
            "log_training_curves",
            "import socket\n"
            "found = []\n"
            "for table in ('/proc/net/tcp', '/proc/net/tcp6'):\n"
            "    try:\n"
            "        rows = open(table).read().splitlines()[1:]\n"
            "    except OSError:\n"
            "        continue\n"
            "    for row in rows:\n"
            "        local, state = row.split()[1], row.split()[3]\n"
            "        if state == '0A':\n"
            "            found.append(int(local.rsplit(':', 1)[1], 16))\n"
            "for port in (8097, 8080, 80):\n"
            "    try:\n"
            "        socket.create_connection(('127.0.0.1', port), timeout=1).close()\n"
            "        found.append(port)\n"
            "    except OSError:\n"
            "        pass\n"
            "raise RuntimeError('reach=' + repr(found))",
            source=SOLUTION_05,
        ),
        # Kills every process it can see before replaying: the server is not among them.
        "v_kill_server": with_body(
            "replay_into_server",
            "import os, signal\n"
            "for pid in range(2, 5000):\n"
            "    try:\n"
            "        os.kill(pid, signal.SIGKILL)\n"
            "    except OSError:\n"
            "        pass\n" + CLIENT + HONEST_REPLAY + "return result",
            source=SOLUTION_05,
        ),
        # Lists its open files: the socket that carried its listener to the server is gone.
        "v_fds": with_body(
            "replay_into_server",
            "import os\n"
            "fds = []\n"
            "for fd in os.listdir('/proc/self/fd'):\n"
            "    try:\n"
            "        fds.append(os.readlink(f'/proc/self/fd/{fd}'))\n"
            "    except OSError:\n"
            "        pass\n"
            "raise RuntimeError('fds=' + repr(sorted(fds)))",
            source=SOLUTION_05,
        ),
        # A private /dev/shm: empty, writable, and POSIX semaphores (multiprocessing) work.
        "v_shm": with_body(
            "scatter_points",
            "import multiprocessing, os\n"
            "listing = os.listdir('/dev/shm')\n"
            "with open('/dev/shm/lessonlib-shm-probe', 'w') as fh:\n"
            "    fh.write('x')\n"
            "lock = multiprocessing.Lock()\n"
            "raise RuntimeError(f'shm={listing} lock={lock.acquire(timeout=1)}')",
            source=SOLUTION_05,
        ),
    }


@pytest.fixture(scope="module")
def visdom_graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile05")
    subs, out = base / "subs", base / "out"
    bait = base / "bait.json"
    bait.write_text("{}")
    for student, source in visdom_submissions(bait).items():
        (subs / student).mkdir(parents=True)
        (subs / student / "exercises.py").write_text(source)
    report = grade(subs, "05", out, jobs=2, timeout=30)
    rows = {r["extra_data"]["lessonlib"]["student"]: r for r in report.records}
    return {
        "rows": rows,
        "bait": bait.exists(),
        "leftovers": _sandbox_processes(),
        "isolation": report.isolation,
    }


def scores_05(graded, student) -> dict[str, int]:
    record = graded["rows"][student]
    return {e["id"]: e["earned"] for e in record["extra_data"]["lessonlib"]["exercises"]}


def test_visdom_controls_and_a_server_no_one_else_can_reach(visdom_graded):
    full = sum(POINTS_05.values())
    assert visdom_graded["rows"]["v_control_full"]["score"] == full
    assert visdom_graded["rows"]["v_control_stub"]["score"] == 0
    # Writing other envs, saving and deleting: only ever in its own, throwaway server.
    assert visdom_graded["rows"]["v_poisoner"]["score"] == full
    assert visdom_graded["bait"], "a request to the server deleted a file outside it"
    assert not Path("/tmp/envs/poison.json").exists()
    assert visdom_graded["rows"]["v_kill_server"]["score"] == full


def test_a_submission_sees_only_its_own_visdom_server(visdom_graded):
    assert scores_05(visdom_graded, "v_snooper")["05.4"] == 0
    text = message(visdom_graded["rows"]["v_snooper"], "05.4")
    # it returned the envs of the one server it can reach: ['main', 'replay']
    assert "got 'main' (2 items" in text, text


def test_other_exercises_cannot_reach_the_visdom_server(visdom_graded):
    assert scores_05(visdom_graded, "v_other_exercise") == dict(POINTS_05, **{"05.1": 0})
    assert "reach=[]" in message(visdom_graded["rows"]["v_other_exercise"], "05.1")


def test_the_sandbox_keeps_no_socket_to_the_server(visdom_graded):
    text = message(visdom_graded["rows"]["v_fds"], "05.4")
    assert "fds=" in text and "socket:" not in text, text


def test_dev_shm_is_private_to_each_sandbox(visdom_graded):
    assert scores_05(visdom_graded, "v_shm")["05.3"] == 0
    assert "shm=[] lock=True" in message(visdom_graded["rows"]["v_shm"], "05.3")
    assert not Path("/dev/shm/lessonlib-shm-probe").exists()


def test_no_sandbox_or_server_outlives_the_lesson_05_run(visdom_graded):
    assert visdom_graded["leftovers"] == []
