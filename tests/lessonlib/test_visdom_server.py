"""The Visdom server as the lesson and `lessonlib visdom` run it: real processes, real UI."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from server_cli import serve_then_ctrl_c

from lessonlib.errors import LessonlibError
from lessonlib.paths import project_root
from lessonlib.visdom import (
    missing_ui_assets,
    screenshot_visdom,
    start_visdom,
    visdom_client,
)
from lessonlib.web import answers, chromium_path, free_port

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # visdom's logger.warn
UI_MISSING = missing_ui_assets()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_visdom(env_path=tmp_path_factory.mktemp("visdom") / "envs", quiet=True)
    try:
        yield srv
    finally:
        srv.stop()


def test_server_answers_and_stops(tmp_path):
    with start_visdom(env_path=tmp_path / "envs", quiet=True) as srv:
        assert srv.url.startswith("http://127.0.0.1:") and answers(srv.url + "/")
        pid = srv.process.pid
    assert srv.process.poll() is not None, "leaving the with-block stops the server"
    assert not answers(srv.url + "/")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_server_never_runs_the_cdn_download(server):
    log = server.log.read_text(encoding="utf-8")
    assert "Checking for scripts" not in log and "Downloading scripts" not in log
    assert "unpkg.com" not in log and "cdnjs" not in log


def test_page_references_no_other_host(server):
    html = urllib.request.urlopen(server.url + "/", timeout=5).read().decode()
    html = re.sub(
        r"<!--.*?-->", "", html, flags=re.S
    )  # visdom's page has a commented-out favicon link
    remote = re.findall(r'(?:src|href)="?(https?://[^" >]+)', html)
    assert remote == [], f"the page loads from other hosts: {remote}"


def test_port_in_use_is_one_sentence(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LessonlibError, match="Visdom server exited at start"):
            start_visdom(env_path=tmp_path / "envs", port=port, quiet=True)


def test_client_posts_and_reads_back(server):
    viz = visdom_client(server, env="roundtrip")
    assert not viz.offline
    viz.line(X=np.arange(3), Y=np.array([3.0, 2.0, 1.5]), win="loss")
    viz.line(X=np.array([3]), Y=np.array([1.2]), win="loss", update="append")
    viz.text("hello", win="note")
    viz.images(np.random.default_rng(0).random((4, 3, 16, 16)), win="grid")
    loss = json.loads(viz.get_window_data("loss", env="roundtrip"))
    assert loss["content"]["data"][0]["y"] == [3.0, 2.0, 1.5, 1.2]
    windows = json.loads(viz.get_window_data(env="roundtrip"))
    assert set(windows) == {"loss", "note", "grid"}
    assert windows["note"]["content"] == "hello"


def test_saved_environment_survives_a_restart(tmp_path):
    envs = tmp_path / "envs"
    with start_visdom(env_path=envs, quiet=True) as first:
        viz = visdom_client(first, env="kept")
        viz.bar(X=np.array([1.0, 4.0, 2.0]), win="bars")
        viz.save(["kept"])
    assert (envs / "kept.json").is_file()
    with start_visdom(env_path=envs, quiet=True) as second:
        bars = json.loads(visdom_client(second).get_window_data("bars", env="kept"))
        assert bars["content"]["data"][0]["y"] == [1.0, 4.0, 2.0]


def test_client_without_server_says_so_once_and_logs(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "fallback.log"
    viz = visdom_client(url, env="nowhere", fallback_log=log)
    out = capsys.readouterr()
    assert viz.offline
    assert len(out.out.strip().splitlines()) == 1 and url in out.out and str(log) in out.out
    viz.line(X=np.arange(2), Y=np.arange(2.0), win="a")
    viz.text("b", win="b")
    after = capsys.readouterr()
    assert after.out == "" and after.err == "", "no message per plot call"
    assert [json.loads(line)[1]["win"] for line in log.read_text().splitlines()] == ["a", "b"]


def test_offline_log_replays_into_a_server(server, tmp_path):
    log = tmp_path / "offline.log"
    offline = visdom_client(f"http://127.0.0.1:{free_port()}", env="later", fallback_log=log)
    for epoch in range(1, 4):
        offline.line(
            X=np.array([epoch]),
            Y=np.array([1.0 / epoch]),
            win="val",
            update="append" if epoch > 1 else None,
        )
    live = visdom_client(server)
    live.replay_log(str(log))
    val = json.loads(live.get_window_data("val", env="later"))
    assert val["content"]["data"][0]["y"] == pytest.approx([1.0, 0.5, 1 / 3])


@pytest.mark.browser
@pytest.mark.skipif(chromium_path() is None, reason="needs the system chromium")
@pytest.mark.skipif(
    bool(UI_MISSING),
    reason="Visdom's UI assets are not installed (run scripts/post-install.d/50-visdom-assets.sh)",
)
def test_ui_draws_the_plots_offline(server, tmp_path):
    viz = visdom_client(server, env="shot")
    viz.line(X=np.arange(6), Y=np.exp(-np.arange(6.0)), win="loss", opts=dict(title="loss"))
    viz.heatmap(X=np.eye(3), win="cm")
    viz.scatter(
        X=np.random.default_rng(1).standard_normal((30, 2)), Y=np.repeat([1, 2, 3], 10), win="emb"
    )
    viz.images(np.random.default_rng(2).random((4, 3, 16, 16)), win="grid")
    png = tmp_path / "ui.png"
    drawn = screenshot_visdom(server.url, png, env="shot")
    assert drawn["panes"] == 4
    assert drawn["line_paths"] >= 1, "Plotly drew no line path: the UI did not render the plot"
    assert drawn["markers"] == 30 and drawn["heatmaps"] == 1 and drawn["images"] == 1
    from PIL import Image

    colours = Image.open(png).convert("RGB").getcolors(maxcolors=1 << 20)
    assert png.stat().st_size > 20_000 and colours is not None and len(colours) > 50, "a blank page"


def _cli(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "lessonlib", *args],
        cwd=project_root(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_cli_prints_the_url_and_stops_on_ctrl_c(tmp_path):
    proc = _cli("visdom", "--port", str(free_port()), "--env-path", str(tmp_path / "envs"))
    url, out, err = serve_then_ctrl_c(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in out + err and not answers(url + "/")


def test_cli_busy_port_is_one_sentence():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = _cli("visdom", "--port", str(busy.getsockname()[1]))
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.startswith("error: port") and len(err.strip().splitlines()) == 1


def test_assets_script_is_idempotent_and_quick_when_done():
    script = project_root() / "scripts/post-install.d/50-visdom-assets.sh"
    if UI_MISSING:
        pytest.skip("assets not installed here; the script's first run needs npm")
    done = subprocess.run(
        ["bash", str(script), str(Path(sys.executable).parent.parent)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0 and done.stdout == "", (
        "a second run prints nothing and changes nothing"
    )
