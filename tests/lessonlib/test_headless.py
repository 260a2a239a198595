"""Screenshots must also work where a Jupyter kernel runs the lesson (inside an event loop)."""

from __future__ import annotations

import asyncio

import pytest

from lessonlib.web import outside_event_loop


def _no_running_loop() -> int:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    return 42


def test_runs_directly_without_a_loop():
    assert outside_event_loop(_no_running_loop) == 42


def test_leaves_a_running_loop_for_a_worker_thread():
    async def kernel_cell():
        return outside_event_loop(_no_running_loop)

    assert asyncio.run(kernel_cell()) == 42
