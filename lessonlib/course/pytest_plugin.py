"""Pytest glue for exercise tests: ``--lesson-root``, the ``exercises`` fixture, a JSON report.

Registered by ``tests/conftest.py``. The report is what ``lessonlib check`` and
``lessonlib dev check`` read, so the CLI never parses pytest's text output.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest

_TEST_FILE = re.compile(r"test_(\d\d)_")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lessonlib")
    group.addoption(
        "--lesson-root",
        default="lessons",
        help="whose exercises.py to test: lessons (stubs), solutions, or a submission folder",
    )
    group.addoption("--lessonlib-report", default=None, help="write per-test results as JSON here")


def locate_exercises(root: Path, slug: str) -> Path:
    """The exercises.py of lesson folder ``slug`` under ``root`` (course, solutions, submission)."""
    candidates = [root / slug / "exercises.py", root / "lessons" / slug / "exercises.py"]
    candidates.append(root / "exercises.py")
    for path in candidates:
        if path.is_file():
            return path
    return candidates[0]


def load_exercises(path: Path, module_name: str):
    """Import a student's exercises.py by file path (lesson folders start with a digit)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _lesson_slug(lesson_id: str, project: Path) -> str:
    for folder in sorted((project / "lessons").glob(f"{lesson_id}_*")):
        return folder.name
    raise pytest.UsageError(f"no lesson folder for {lesson_id}")


@pytest.fixture(scope="module")
def exercises(request: pytest.FixtureRequest):
    """The exercises module of the lesson this test file checks, from ``--lesson-root``."""
    test_path = Path(str(request.node.path))
    match = _TEST_FILE.match(test_path.name)
    if not match:
        raise pytest.UsageError(f"{test_path.name} does not start with test_NN_")
    lesson_id = match.group(1)
    project = Path(str(request.config.rootpath))
    root = Path(request.config.getoption("--lesson-root"))
    if not root.is_absolute():
        root = project / root
    path = locate_exercises(root, _lesson_slug(lesson_id, project))
    if not path.is_file():
        pytest.fail(f"no exercises.py found for lesson {lesson_id} under {root}", pytrace=False)
    try:
        return load_exercises(path, f"lessonlib_exercises_{lesson_id}")
    except SyntaxError as exc:
        pytest.fail(f"syntax error in {exc.filename}, line {exc.lineno}: {exc.msg}", pytrace=False)
    except Exception as exc:  # a student's module may raise anything at import
        pytest.fail(f"{path.name} failed to import: {type(exc).__name__}: {exc}", pytrace=False)


def _one_line(text: str, limit: int = 200) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _where(excinfo) -> str:
    """``exercises.py:42`` for the deepest frame in a student's file, if any."""
    for entry in reversed(excinfo.traceback):
        if Path(str(entry.path)).name == "exercises.py":
            return f" ({Path(str(entry.path)).name}:{entry.lineno + 1})"
    return ""


class _Recorder:
    def __init__(self) -> None:
        self.results: dict[str, dict] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        marker = item.get_closest_marker("exercise")
        if marker is None:
            return
        ex_id = marker.args[0] if marker.args else marker.kwargs.get("id")
        points = int(marker.kwargs.get("points", marker.args[1] if len(marker.args) > 1 else 1))
        entry = self.results.setdefault(
            item.nodeid,
            {
                "nodeid": item.nodeid,
                "exercise": ex_id,
                "points": points,
                "outcome": "passed",
                "message": "",
            },
        )
        if report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"
            entry["message"] = _one_line(str(report.longrepr[-1]) if report.longrepr else "")
            return
        if not report.failed or entry["outcome"] not in ("passed", "skipped"):
            return
        excinfo = call.excinfo
        if excinfo is not None and excinfo.errisinstance(NotImplementedError):
            entry["outcome"] = "not_started"
            entry["message"] = "not started"
        elif excinfo is not None and excinfo.typename in ("Failed",):
            entry["outcome"] = "failed"
            entry["message"] = _one_line(str(excinfo.value))
        elif excinfo is not None:
            entry["outcome"] = "failed"
            head = excinfo.exconly()
            if excinfo.errisinstance(AssertionError):
                head = head.removeprefix("AssertionError: ")
            entry["message"] = _one_line(head) + _where(excinfo)
        else:
            entry["outcome"] = "failed"
            entry["message"] = _one_line(str(report.longrepr))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        target = session.config.getoption("--lessonlib-report")
        if not target:
            return
        tmp = f"{target}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(list(self.results.values()), fh, indent=1)
        os.replace(tmp, target)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Recorder(), "lessonlib-recorder")
