"""Where things live: the project root, the build folder, the learner's state."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The course's root folder (``LESSONLIB_ROOT`` overrides the package's parent)."""
    env = os.environ.get("LESSONLIB_ROOT")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parent.parent


def build_dir(*parts: str, create: bool = True) -> Path:
    """A folder under ``build/`` (``LESSONLIB_BUILD`` overrides), created on demand."""
    env = os.environ.get("LESSONLIB_BUILD")
    base = Path(env).resolve() if env else project_root() / "build"
    path = base.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """The folder where real data sets (CIFAR-10, MNIST) may be placed by hand."""
    env = os.environ.get("LESSONLIB_DATA")
    return Path(env).resolve() if env else project_root() / "data"


def state_file() -> Path:
    """The learner's small state file (hint counters, cached check results)."""
    env = os.environ.get("LESSONLIB_STATE")
    return Path(env).resolve() if env else project_root() / ".lessonlib" / "state.json"
