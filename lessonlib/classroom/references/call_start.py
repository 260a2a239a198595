"""Trusted code that runs in the sandbox just before the student's function starts.

``with_hook(inputs, hook)`` sets ``Inputs.before`` (see lessonlib.classroom.grading.Inputs): the
sandbox calls ``hook(args)`` inside the sandbox, in the case's working folder, after the
student's file was imported and after every earlier case of this sandbox ran. A hook can see
what an earlier call left behind (hooks on a model it shares with this case, open figures)
and write it into the folder, whose files reach the check; or it can set up a multi-process
job around the call (lesson 04's gloo job). A hook that fails makes the case one the grader
could not build.

What this is worth: the hook runs in the submission's own process, so a submission that sets
out to can forge or delete what it reports (patch torch, remove the file). It catches honest
mistakes (a hook never removed, a figure left open), which the visible tests catch too; the
values a function returns are still checked against the grader's own references. The grader
never runs a hook.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

OBSERVED = ".grader"  # the folder, inside the case's folder, that hooks write into


def with_hook(inputs: Any, hook: Callable[[tuple], None]) -> Any:
    """``inputs`` (an ``Inputs``) whose ``hook(args)`` runs in the sandbox at call start."""
    inputs.before = hook
    return inputs


def write_observed(name: str, record: dict) -> None:
    """Write ``record`` as ``.grader/<name>.json`` in the current (the case's) folder."""
    folder = Path(OBSERVED)
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(record), encoding="utf-8")


def read_json(path: Path, limit: int = 1_000_000) -> dict | None:
    """A JSON object from a file the sandbox wrote, or None if it is missing or not one."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8")[:limit])
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def read_observed(files: Path, name: str) -> dict | None:
    """The grader's side: the record a hook wrote for this call, or None if it is missing."""
    return read_json(Path(files) / OBSERVED / f"{name}.json")
