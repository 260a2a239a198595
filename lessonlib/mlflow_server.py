"""A real MLflow tracking server (REST API and UI) on a local store, started and stopped cleanly.

``mlflow server`` imports MLflow twice (its command line, then a uvicorn worker process) and
starts four workers by default; on a 2-CPU machine that takes many seconds. ``start_mlflow``
runs the same application, ``mlflow.server.fastapi_app:app``, in one uvicorn process that
imports it once, with the settings ``mlflow server`` would pass it: the store, the artifact
root, no job runner, no telemetry. It listens on 127.0.0.1 only. ``python -m
lessonlib.mlflow_server --help`` shows the child's own options.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from lessonlib.errors import LessonlibError
from lessonlib.web import Server, _die_with_parent, answers, free_port, port_is_free

__all__ = ["DEFAULT_PORT", "start_mlflow", "wait_for_mlflow", "rest", "screenshot_mlflow"]

DEFAULT_PORT = 5000
HOST = "127.0.0.1"
_launched_at: dict[int, float] = {}


def _store_paths(store: str | Path, artifacts: str | Path | None) -> tuple[str, str]:
    from lessonlib.tracking import mlflow_store_uri

    uri = mlflow_store_uri(store)
    if artifacts is None:
        local = uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else "."
        artifacts = f"{local}.artifacts"
    return uri, str(Path(artifacts).resolve())


def start_mlflow(
    store: str | Path,
    port: int | None = None,
    *,
    artifacts: str | Path | None = None,
    log: str | Path | None = None,
    wait: bool = True,
    timeout: float = 60.0,
) -> Server:
    """Start an MLflow server on ``store`` (a SQLite file or a tracking URI) at 127.0.0.1.

    ``port`` must be free (None: any free port). ``artifacts`` is where runs of new
    experiments keep files (default: ``<store>.artifacts``). With ``wait`` (the default) it
    returns once the server answers; otherwise at once: call ``wait_for_mlflow`` later.
    """
    if port is not None and not port_is_free(port):
        raise LessonlibError(
            f"port {port} is already in use: pick another with --port, or leave it out."
        )
    uri, artifact_root = _store_paths(store, artifacts)
    chosen = port or free_port()
    log_path = Path(log) if log else Path(artifact_root).parent / "mlflow-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "lessonlib.mlflow_server", uri, artifact_root, str(chosen)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", MLFLOW_DISABLE_TELEMETRY="true")
    started = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as fh:
        process = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )  # fmt: skip
    server = Server(f"http://{HOST}:{chosen}", chosen, process, log_path)
    _launched_at[id(server)] = started
    if wait:
        wait_for_mlflow(server, timeout)
    return server


def wait_for_mlflow(server: Server, timeout: float = 60.0) -> Server:
    """Block until ``server`` answers ``GET /``; one sentence (and no server left) if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            lines = server.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            why = lines[-1].strip() if lines else f"exit code {server.process.returncode}"
            raise LessonlibError(f"the MLflow server exited at start ({why}); see {server.log}.")
        if answers(server.url + "/", timeout=1.0):
            if id(server) in _launched_at:  # seconds from launch to the first answer
                server.started_in = time.perf_counter() - _launched_at.pop(id(server))
            return server
        time.sleep(0.05)
    server.stop()
    raise LessonlibError(f"the MLflow server did not answer in {timeout:.0f} s; see {server.log}.")


def rest(server: Server | str, endpoint: str, payload: dict | None = None, **query: Any) -> dict:
    """Call MLflow's REST API: POST ``payload`` (or GET with ``query``) to ``/api/2.0/mlflow/…``."""
    from urllib.parse import urlencode

    base = server.url if isinstance(server, Server) else server.rstrip("/")
    url = f"{base}/api/2.0/mlflow/{endpoint.lstrip('/')}"
    if payload is None:
        request = urllib.request.Request(url + (f"?{urlencode(query)}" if query else ""))
    else:
        data = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read().decode("utf-8"))


_CHART_FACTS = """() => ({
  charts: document.querySelectorAll('.js-plotly-plot, canvas, svg .recharts-line').length,
  lines: Array.from(document.querySelectorAll('path')).filter(
      (p) => (p.getAttribute('d') || '').split(/[LC]/).length > 8).length,
  runs: document.body.innerText.split('\\n').filter((t) => /^lr[0-9]/.test(t.trim())).length,
})"""


def screenshot_mlflow(
    url: str,
    png: str | Path,
    experiment_id: str,
    *,
    run_names: list[str] | None = None,
    width: int = 1400,
    height: int = 1100,
    timeout_s: float = 60.0,
) -> dict[str, Any]:
    """Photograph the experiment's chart view in headless chromium; return what it drew.

    Opens ``#/experiments/<id>/runs?compareRunsMode=CHART``, waits for the runs' names (all of
    ``run_names``, when given) and for drawn lines, then saves ``png``. Requests to any host
    but the server's are refused (see ``lessonlib.web.local_page``).
    """
    from lessonlib.web import outside_event_loop

    return outside_event_loop(
        _screenshot, url, Path(png), experiment_id, run_names or [], width, height, timeout_s
    )


def _screenshot(url, png, experiment_id, run_names, width, height, timeout_s) -> dict[str, Any]:
    from lessonlib.web import local_page

    png.parent.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    target = f"{url.rstrip('/')}/#/experiments/{experiment_id}/runs?compareRunsMode=CHART"
    with local_page(url, width, height) as (context, page):
        page.on("requestfailed", lambda r: outside.append(r.url))
        page.goto(target, wait_until="load", timeout=timeout_s * 1000)
        deadline = time.monotonic() + timeout_s
        facts: dict[str, Any] = {}
        while time.monotonic() < deadline:
            facts = page.evaluate(_CHART_FACTS)
            text = page.inner_text("body")
            if all(name in text for name in run_names) and facts["lines"] >= 1:
                break
            page.wait_for_timeout(250)
        else:
            raise TimeoutError(f"MLflow's chart view drew {facts} in {timeout_s:.0f} s.")
        close = page.get_by_role("button", name="Close", exact=True)
        if close.count() == 1 and close.is_visible():  # the "MLflow Assistant" side panel
            close.click()
        page.wait_for_timeout(1000)  # let the charts' transitions end before the picture
        facts = page.evaluate(_CHART_FACTS)
        page.screenshot(path=str(png))
    return {"path": png, **facts, "outside_requests": sorted(set(outside))}


# ---------------------------------------------------------------- the child process


def _serve(store_uri: str, artifact_root: str, port: int) -> None:
    """Run MLflow's server app on 127.0.0.1:``port`` in this process until SIGINT/SIGTERM."""
    os.environ.update(
        {
            # the variables `mlflow server` hands its workers (mlflow/server/__init__.py)
            "_MLFLOW_SERVER_FILE_STORE": store_uri,
            "_MLFLOW_SERVER_REGISTRY_STORE": store_uri,
            "_MLFLOW_SERVER_ARTIFACT_ROOT": artifact_root,
            "_MLFLOW_SGI_NAME": "uvicorn",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
        }
    )
    import warnings

    warnings.filterwarnings("ignore")  # deprecation notices of its dependencies, at import
    import uvicorn
    from mlflow.server.fastapi_app import app
    from mlflow.server.handlers import initialize_backend_stores

    initialize_backend_stores(store_uri, store_uri, artifact_root)  # migrations, if any, now
    uvicorn.run(app, host=HOST, port=port, workers=1, log_level="warning", access_log=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve MLflow's tracking server (one process).")
    parser.add_argument("store_uri", help="tracking store, e.g. sqlite:////abs/path/mlflow.db")
    parser.add_argument("artifact_root", help="folder for new experiments' artifacts")
    parser.add_argument("port", type=int)
    args = parser.parse_args(argv)
    _serve(args.store_uri, args.artifact_root, args.port)


if __name__ == "__main__":
    main()
