"""Run a Visdom server offline (no CDN download) and connect a client that never hangs.

visdom 0.2.4's own entry point (``python -m visdom.server``) first downloads its UI's
JavaScript from CDNs and, offline, crashes. ``start_visdom`` runs the server's ``main``
directly, which downloads nothing: with the UI assets installed by
``scripts/post-install.d/50-visdom-assets.sh`` the page draws plots with no network; without
them the data API still works and the page stays blank (one sentence says so).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from lessonlib.errors import LessonlibError
from lessonlib.paths import build_dir, project_root
from lessonlib.web import Server, answers, free_port, launch

__all__ = ["Server", "start_visdom", "visdom_client", "missing_ui_assets", "screenshot_visdom"]

ASSETS_SCRIPT = "scripts/post-install.d/50-visdom-assets.sh"
# The files visdom's index.html loads (relative to its static/ folder).
UI_FILES = (
    "version.built",
    "css/bootstrap.min.css",
    "css/react-resizable-styles.css",
    "css/react-grid-layout-styles.css",
    "js/jquery.min.js",
    "js/bootstrap.min.js",
    "js/react-react.min.js",
    "js/react-dom.min.js",
    "js/layout_bin_packer.js",
    "js/plotly-plotly.min.js",
    "js/d3.v3.min.js",
    "js/d3-selection-multi.v1.js",
    "js/saveSvgAsPng.js",
    "js/mathjax/2.7.5/MathJax.js",
    "js/mathjax/2.7.5/config/TeX-AMS-MML_HTMLorMML.js",
)
# The server never touches tensors, yet ``import visdom`` imports torch (seconds): block it.
_SERVER_CODE = (
    "import sys; sys.modules['torch'] = None; sys.argv = ['visdom'] + sys.argv[1:]; "
    "from visdom.server.run_server import main; main(print_func=lambda port: None)"
)


def visdom_static_dir() -> Path:
    """The installed visdom package's ``static/`` folder (where the UI assets belong)."""
    import importlib.util

    spec = importlib.util.find_spec("visdom")
    if spec is None or spec.origin is None:
        raise LessonlibError("visdom is not installed in this environment: run 'make venv'.")
    return Path(spec.origin).parent / "static"


def missing_ui_assets() -> list[str]:
    """The UI files visdom's page needs that are not installed (empty: the UI works offline)."""
    static = visdom_static_dir()
    return [name for name in UI_FILES if not (static / name).is_file()]


def assets_hint() -> str:
    """One sentence: the UI assets are missing, and how to install them."""
    return (
        "Visdom's UI assets are not installed, so its page stays blank (the data API still "
        f"works): run 'bash {ASSETS_SCRIPT} .venv' (needs npm) to install them offline."
    )


def start_visdom(
    env_path: str | Path | None = None,
    port: int | None = None,
    *,
    timeout: float = 10.0,
    require_ui: bool = False,
    quiet: bool = False,
) -> Server:
    """Start a Visdom server on 127.0.0.1 (a free port unless given) and wait until it answers.

    ``env_path`` is where saved environments live (default ``build/visdom/envs``). The
    server's own log goes to ``<env_path>/../visdom-server.log``. Without the UI assets the
    server still starts (one sentence on stderr says how to get the UI) unless
    ``require_ui`` is set, which raises instead.
    """
    missing = missing_ui_assets()
    if missing and require_ui:
        raise LessonlibError(assets_hint())
    if missing and not quiet:
        print(assets_hint(), file=sys.stderr)
    env_dir = Path(env_path) if env_path is not None else build_dir("visdom", "envs")
    env_dir.mkdir(parents=True, exist_ok=True)
    chosen = port or free_port()
    cmd = [
        sys.executable,
        "-c",
        _SERVER_CODE,
        "-port",
        str(chosen),
        "-env_path",
        f"{env_dir}{os.sep}",
        "-bind_local",
        "-logging_level",
        "WARNING",
    ]
    log = env_dir.parent / "visdom-server.log"
    try:
        server = launch(cmd, chosen, log, name="Visdom", timeout=timeout, cwd=project_root())
    except LessonlibError:
        if port is None and "Address already in use" in log.read_text(
            encoding="utf-8", errors="replace"
        ):
            return start_visdom(env_dir, None, timeout=timeout, require_ui=require_ui, quiet=True)
        raise
    server.env_path = env_dir
    return server


def _quiet_visdom_logger() -> None:
    # The client warns on every connect ("Setting up a new session...", "Without the incoming
    # socket..."): useful in a terminal, noise in a lesson page.
    logging.getLogger("visdom").setLevel(logging.ERROR)


def visdom_client(
    server: Server | str | None = None,
    *,
    env: str = "main",
    log_to_filename: str | Path | None = None,
    fallback_log: str | Path | None = None,
) -> Any:
    """A ``visdom.Visdom`` client for ``server`` (a Server or URL), or an offline logger.

    When no server answers, prints one sentence and returns
    ``Visdom(offline=True, log_to_filename=fallback_log)`` instead of hanging or printing a
    traceback per call; replay that file later with ``viz.replay_log(path)``. With a server,
    ``log_to_filename`` (optional) also keeps a replayable log of every call.
    """
    from urllib.parse import urlparse

    from visdom import Visdom

    _quiet_visdom_logger()
    url = server.url if isinstance(server, Server) else (server or "http://127.0.0.1:8097")
    parsed = urlparse(url)
    host, port = f"{parsed.scheme}://{parsed.hostname}", parsed.port or 80
    if answers(url.rstrip("/") + "/"):
        return Visdom(
            server=host,
            port=port,
            env=env,
            raise_exceptions=True,
            use_incoming_socket=False,
            log_to_filename=str(log_to_filename) if log_to_filename else None,
        )
    log = Path(fallback_log or log_to_filename or build_dir("visdom") / "offline.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    try:  # said relative to the course, as the learner types it
        shown = log.resolve().relative_to(project_root())
    except ValueError:
        shown = log
    print(
        f"No Visdom server answers at {url}, so plots are logged to {shown} instead; start one "
        "with 'lessonlib visdom' and replay the file with Visdom(port=...).replay_log(path)."
    )
    return Visdom(offline=True, log_to_filename=str(log), env=env)


_DOM_FACTS = """() => {
  const drawn = (sel) => Array.from(document.querySelectorAll(sel))
      .filter((p) => (p.getAttribute('d') || '').length > 10).length;
  return {
    panes: document.querySelectorAll('.react-grid-layout .react-grid-item').length,
    line_paths: drawn('.js-plotly-plot .scatterlayer path.js-line'),
    markers: document.querySelectorAll('.js-plotly-plot .scatterlayer path.point').length,
    heatmaps: document.querySelectorAll('.js-plotly-plot .hm image').length,
    images: Array.from(document.querySelectorAll('.react-grid-item img'))
        .filter((i) => i.complete && i.naturalWidth > 0).length,
    text_panes: document.querySelectorAll('.react-grid-item .content-text').length,
  };
}"""


def screenshot_visdom(
    url: str,
    png: str | Path,
    env: str = "main",
    *,
    width: int = 1280,
    height: int = 800,
    timeout_s: float = 30.0,
    wait_for: str = ".js-plotly-plot .main-svg",
) -> dict[str, int]:
    """Open Visdom's UI on environment ``env`` in headless chromium and save ``png``.

    Waits until ``wait_for`` (a CSS selector; default: a Plotly plot) is on the page, then
    returns what the page drew: panes, line paths, markers, heatmaps, loaded images.
    """
    from lessonlib.web import outside_event_loop

    if missing_ui_assets():
        raise LessonlibError(assets_hint())
    return outside_event_loop(_screenshot_visdom, url, png, env, width, height, timeout_s, wait_for)


def _screenshot_visdom(url, png, env, width, height, timeout_s, wait_for) -> dict[str, int]:
    from lessonlib.web import local_page

    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    with local_page(url, width, height) as (_, page):
        page.goto(
            f"{url.rstrip('/')}/env/{env}", wait_until="domcontentloaded", timeout=timeout_s * 1000
        )
        try:
            page.wait_for_selector(wait_for, timeout=timeout_s * 1000)
        except Exception as exc:
            page.screenshot(path=str(png))
            raise LessonlibError(
                f"Visdom's page at {url} drew nothing for env {env!r}; see {png}."
            ) from exc
        page.wait_for_timeout(500)  # Plotly animates the first draw
        page.screenshot(path=str(png))
        return page.evaluate(_DOM_FACTS)
