import sys
from pathlib import Path

# Test-side reference helpers (independent of the solutions) live beside this file.
sys.path.insert(0, str(Path(__file__).parent / "support"))

pytest_plugins = ["lessonlib.pytest_plugin"]
