import os
import sys
from pathlib import Path

# Test-side reference helpers (independent of the solutions) live beside this file.
# The exercise fixture and --lesson-root come from lessonlib.course.pytest_plugin
# (pyproject addopts).
sys.path.insert(0, str(Path(__file__).parent / "support"))

# `lessonlib check` keeps a warm worker in the background; the suite's many CLI runs use the
# plain subprocess path instead (tests/lessonlib/test_check_worker.py tests the worker).
os.environ.setdefault("LESSONLIB_WARM_CHECK", "0")
