"""Fixtures shared by the library's tests."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def worker_env(tmp_path, monkeypatch):
    """Warm checks on, sockets in a private TMPDIR; every worker started here is killed after."""
    tmp = Path(tempfile.mkdtemp(prefix="lw", dir="/tmp"))  # short: socket paths max 107 bytes
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("LESSONLIB_WARM_CHECK", "1")
    yield tmp
    for lock in tmp.rglob("*.lock"):
        pid = lock.read_text().strip()
        if pid:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    shutil.rmtree(tmp, ignore_errors=True)
