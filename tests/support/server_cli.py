"""Drive a ``lessonlib <server>`` command as a user does: read its URL, press Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess

from lessonlib.web import answers


def serve_then_ctrl_c(proc: subprocess.Popen) -> tuple[str, str, str]:
    """Check the printed URL answers, send SIGINT to the group; return (url, stdout, stderr)."""
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, f"no URL in {line!r}"
        assert answers(url.group(0) + "/")
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return url.group(0), out, err
