"""Headless chromium (system binary, via Playwright) for screenshots of local web UIs."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
from urllib.parse import urlparse

from lessonlib.errors import LessonlibError

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """The system chromium (``LESSONLIB_CHROMIUM`` overrides), or None when there is none."""
    env = os.environ.get("LESSONLIB_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def outside_event_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` here, or in a worker thread when this thread runs an asyncio loop.

    Playwright's sync API refuses to run inside a running event loop, which is where a
    Jupyter kernel (and so the docs build) executes a lesson's code.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


@contextlib.contextmanager
def local_page(
    url: str, width: int = 1280, height: int = 800, **context_options: Any
) -> Iterator[Any]:
    """A Playwright page (not yet navigated) whose requests to any host but ``url``'s are refused.

    Yields ``(context, page)``; the browser closes on exit. Blocking other hosts keeps
    screenshots identical offline and online, and fast: nothing waits on a network timeout.
    """
    exe = chromium_path()
    if exe is None:
        raise LessonlibError(
            "no chromium found for screenshots: install it with 'sudo apt-get install chromium'."
        )
    from playwright.sync_api import sync_playwright

    host = urlparse(url).hostname
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": width, "height": height}, **context_options
            )
            context.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if urlparse(route.request.url).hostname in (host, None)
                    or route.request.url.startswith("data:")
                    else route.abort()
                ),
            )
            yield context, context.new_page()
        finally:
            browser.close()
