"""Serve a model file with Netron (offline) and take a real screenshot of its graph.

Two things stand between headless chromium and Netron's graph: a cookie-consent dialog
(Netron asks ipinfo.io whether to show it; offline that fails and it shows it), and, from
180 days after Netron's build date, an endless "Please update" dialog. We set the
``consent`` cookie, and the page's clock to just after the build date read from netron's
own ``index.html``.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from lessonlib.errors import LessonlibError
from lessonlib.paths import build_dir
from lessonlib.web import Server, free_port, launch, port_is_free

_DATE = re.compile(r'<meta name="date" content="([0-9-]+)[ T]?([0-9:]*)"')


def netron_build_date() -> datetime:
    """The build date netron's page carries (``<meta name="date">`` in its index.html)."""
    import netron

    html = (Path(netron.__file__).parent / "index.html").read_text(encoding="utf-8")
    match = _DATE.search(html)
    if match is None:
        return datetime.now()
    return datetime.fromisoformat(f"{match.group(1)}T{match.group(2) or '00:00:00'}")


def check_model_file(model_path: str | Path) -> Path:
    """The model file as a Path, or one sentence saying why Netron cannot show it."""
    path = Path(model_path)
    if not path.exists():
        raise LessonlibError(
            f"{path} does not exist: give the path of a model file, e.g. build/06/small_cnn.onnx."
        )
    if not path.is_file() or path.stat().st_size == 0:
        raise LessonlibError(
            f"{path} is not a model file (a directory or empty): give a .onnx file."
        )
    if path.suffix.lower() == ".onnx":
        import onnx

        try:
            onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # protobuf's DecodeError and friends
            raise LessonlibError(
                f"{path} is not a valid ONNX file ({type(exc).__name__}): "
                "export it again with torch.onnx.export."
            ) from exc
    return path


def serve_netron(model_path: str | Path, port: int | None = None, timeout: float = 10.0) -> Server:
    """Serve ``model_path`` with netron's own server on 127.0.0.1 and wait until it answers.

    Netron runs in a child process (its in-process server keeps the model in a class
    attribute, so two models in one process would show the same file). ``.url``,
    ``.stop()``, and a context manager, like ``start_visdom``.
    """
    path = check_model_file(model_path).resolve()
    chosen = port or free_port()
    if port is not None and not port_is_free(port):
        raise LessonlibError(
            f"port {port} is already in use: pick another with --port, or leave it out."
        )
    code = "import sys, netron; sys.argv[0] = 'netron'; netron.main()"
    cmd = [
        sys.executable,
        "-c",
        code,
        str(path),
        "--port",
        str(chosen),
        "--host",
        "127.0.0.1",
        "--verbosity",
        "quiet",
    ]
    log = build_dir("netron") / f"{path.name}.log"  # one per model, not one per port
    return launch(cmd, chosen, log, name="Netron", timeout=timeout)


def screenshot_netron(
    url: str, png: str | Path, *, width: int = 1280, height: int = 800, timeout_s: float = 30.0
) -> int:
    """Open Netron at ``url`` in headless chromium, wait for the graph, save ``png``.

    Returns the number of graph nodes drawn (``#canvas g.node``). Raises with one sentence
    when the page shows a dialog (consent, update) or no graph.
    """
    return screenshot_netron_pages([(url, png)], width=width, height=height, timeout_s=timeout_s)[0]


def screenshot_netron_pages(
    shots: list[tuple[str, str | Path]],
    *,
    width: int = 1280,
    height: int = 800,
    timeout_s: float = 30.0,
    consent: bool = True,
    clock: datetime | None = None,
) -> list[int]:
    """``screenshot_netron`` for several (url, png) pairs, in one browser (it starts once).

    ``consent=False`` skips the cookie and ``clock`` overrides the page's date (default: a
    day after Netron's build): both exist to show what the page does without the fixes.
    """
    from lessonlib.web import outside_event_loop

    return outside_event_loop(_shoot, shots, width, height, timeout_s, consent, clock)


def _shoot(shots, width, height, timeout_s, consent, clock) -> list[int]:
    from lessonlib.web import local_page

    counts = []
    with local_page(shots[0][0], width, height) as (context, page):
        # Cookies ignore the port, so one consent cookie serves every local Netron.
        if consent:
            context.add_cookies(
                [{"name": "consent", "value": str(int(time.time() * 1000)), "url": shots[0][0]}]
            )
        # Before any page loads: Netron checks the date at start (and later replaces window.eval).
        context.clock.set_system_time(clock or netron_build_date() + timedelta(days=1))
        for url, png in shots:
            png = Path(png)
            png.parent.mkdir(parents=True, exist_ok=True)
            page.goto(url, wait_until="domcontentloaded", timeout=timeout_s * 1000)
            try:
                page.wait_for_selector("#canvas g.node", timeout=timeout_s * 1000)
            except Exception as exc:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(png))
                message = _visible_dialog_text(page)
                why = f"it shows a dialog: {message!r}" if message else "no graph node appeared"
                raise LessonlibError(
                    f"Netron's page at {url} drew no graph ({why}); see {png}."
                ) from exc
            page.wait_for_timeout(300)  # let the last edges and the zoom settle
            page.screenshot(path=str(png))
            counts.append(page.locator("#canvas g.node").count())
    return counts


def _visible_dialog_text(page) -> str:
    """The text of Netron's message/dialog box if one is visible, else ''."""
    with contextlib.suppress(Exception):
        for selector in ("#message-text", ".message-text", "dialog"):
            box = page.locator(selector)
            if box.count() and box.first.is_visible():
                return box.first.inner_text().strip()
    return ""
