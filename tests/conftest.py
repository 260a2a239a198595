import sys
from pathlib import Path

# Test-side reference helpers (independent of the solutions) live beside this file.
# The exercise fixture and --lesson-root come from lessonlib.pytest_plugin (pyproject addopts).
sys.path.insert(0, str(Path(__file__).parent / "support"))
