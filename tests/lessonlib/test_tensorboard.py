"""lessonlib.tensorboard against a real TensorBoard server, a real browser and real event files."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.tensorboard import SummaryWriter

from lessonlib.errors import LessonlibError
from lessonlib.tensorboard import (
    CorruptEventFileWarning,
    NonFiniteLossWarning,
    Trainer,
    chromium_available,
    event_files,
    free_port,
    port_is_free,
    read_scalars,
    screenshot_dashboard,
    screenshot_dashboards,
    start_tensorboard,
)

LOSS = [float(np.exp(-s / 60) + 0.05 * np.sin(s)) for s in range(1500)]  # > 1000: no downsampling
VAL = [0.9, 0.7, 0.6]


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    """Two runs written with torch's SummaryWriter: one long loss curve, one add_scalars chart."""
    root = tmp_path_factory.mktemp("tb")
    with SummaryWriter(root / "long") as w:
        for step, value in enumerate(LOSS):
            w.add_scalar("train/loss", value, step)
    with SummaryWriter(root / "short") as w:
        for epoch, value in enumerate(VAL, 1):
            w.add_scalars("loss", {"train": value + 0.1, "val": value}, epoch)
    return root


@pytest.fixture(scope="module")
def server(logdir):
    with start_tensorboard(logdir, timeout=90) as srv:
        yield srv
    assert not srv.alive, "the server outlived its context manager"
    assert port_is_free(srv.port), "the port is still taken after stop()"


def test_server_serves_every_point_that_was_written(server):
    assert server.url.startswith("http://127.0.0.1:")
    rows = server.wait_for_scalars("long", "train/loss", len(LOSS))
    assert [step for _, step, _ in rows] == list(range(len(LOSS)))
    np.testing.assert_allclose([value for *_, value in rows], LOSS, rtol=1e-6)
    val = server.wait_for_scalars("short/loss_val", "loss", len(VAL))
    assert [(s, round(v, 6)) for _, s, v in val] == [(1, 0.9), (2, 0.7), (3, 0.6)]
    assert {"long", "short/loss_train", "short/loss_val"} <= set(server.runs())


def test_read_scalars_matches_what_was_written(logdir):
    frame = read_scalars(logdir)
    long = frame[frame.run == "long"]
    assert long.step.tolist() == list(range(len(LOSS)))
    np.testing.assert_allclose(long.value, LOSS, rtol=1e-6)
    assert set(frame.run) == {"long", "short/loss_train", "short/loss_val"}


def test_a_missing_folder_is_one_sentence(tmp_path):
    with pytest.raises(LessonlibError, match="is not a folder"):
        start_tensorboard(tmp_path / "nope")


@pytest.mark.browser
@pytest.mark.skipif(not chromium_available(), reason="the system chromium is not installed")
def test_screenshot_of_the_scalars_dashboard_has_drawn_charts(server, tmp_path):
    from PIL import Image

    server.wait_for_scalars("long", "train/loss", len(LOSS))
    shot = screenshot_dashboard(server.url, tmp_path / "scalars.png", min_lines=2)
    # Two charts (train/loss, loss): at least one drawn line each, read from the page's SVG.
    assert shot["cards"] >= 2, shot
    assert shot["lines"] >= 2, shot
    assert shot["outside_requests"] == [], "the dashboard asked another host for something"
    picture = np.asarray(Image.open(shot["path"]).convert("RGB"))
    assert picture.shape[:2] == (900, 1280)
    assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 50, "the screenshot looks blank"


@pytest.mark.browser
@pytest.mark.skipif(not chromium_available(), reason="the system chromium is not installed")
def test_one_browser_photographs_dashboards_of_two_servers(server, logdir, tmp_path):
    """Scalars waits for its lines; a second server's dashboard comes from its own tab."""
    from PIL import Image

    with SummaryWriter(tmp_path / "logs" / "graph") as w:
        w.add_graph(nn.Sequential(nn.Linear(3, 2)), torch.zeros(1, 3))
    server.wait_for_scalars("long", "train/loss", len(LOSS))
    with start_tensorboard(tmp_path / "logs", free_port(server.port + 1), timeout=90) as other:
        shots = screenshot_dashboards(server.url, [
            ("scalars", tmp_path / "scalars.png", ""),
            ("graphs", tmp_path / "graphs.png", "", other.url),
        ], width=1100, min_lines=2)  # fmt: skip
    assert [s["dashboard"] for s in shots] == ["scalars", "graphs"]
    assert shots[0]["cards"] >= 2 and shots[0]["lines"] >= 2, shots[0]
    assert shots[1]["outside_requests"] == [], "a dashboard asked another host for something"
    for shot in shots:
        picture = np.asarray(Image.open(shot["path"]).convert("RGB"))
        assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 20, f"{shot['path']} looks blank"


def test_corrupt_files_are_skipped_and_the_rest_is_read(tmp_path):
    for name in ("good", "cut", "garbage", "flipped"):
        with SummaryWriter(tmp_path / name) as w:
            for step in range(40):
                w.add_scalar("x", float(step), step)
    (cut,) = event_files(tmp_path / "cut")
    cut.write_bytes(cut.read_bytes()[:-5])  # the last record loses its end
    (garbage,) = event_files(tmp_path / "garbage")
    garbage.write_bytes(os.urandom(300))
    (flipped,) = event_files(tmp_path / "flipped")
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = read_scalars(tmp_path)
    messages = {str(w.message) for w in caught if w.category is CorruptEventFileWarning}
    assert len(messages) == 3, messages
    for message in messages:
        assert message.count(". ") == 0 and message.endswith("."), f"not one sentence: {message}"
    assert any(str(garbage) in m and "skipped" in m for m in messages)
    assert any(str(flipped) in m and "skipped" in m for m in messages)
    assert any(str(cut) in m and "complete records" in m for m in messages)
    counts = frame.groupby("run").size().to_dict()
    assert counts == {"good": 40, "cut": 39}, counts


def _data(n: int = 64, poison_at: int | None = None):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, generator=gen)
    y = (x[:, 0] > 0).long()
    if poison_at is not None:
        x[poison_at, 2] = float("nan")
    return DataLoader(TensorDataset(x, y), batch_size=8)  # 8 steps per epoch


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))


def test_trainer_logs_interval_means_and_histograms(tmp_path):
    model = _model()
    with SummaryWriter(tmp_path) as w:
        trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), w, log_every=4)
        history = trainer.fit(_data(), epochs=2)
    frame = read_scalars(tmp_path)
    loss = frame[(frame.run == ".") & (frame.tag == "train/loss")]
    assert loss.step.tolist() == [4, 8, 12, 16], "one point per interval of 4 steps"
    assert set(frame[frame.run == "loss_train"].step) == {1, 2}, "one add_scalars point per epoch"
    np.testing.assert_allclose(
        frame[frame.run == "loss_train"].value, history["train_loss"], rtol=1e-6
    )
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path), size_guidance={"histograms": 0})
    acc.Reload()
    names = ["0.weight", "2.weight"]  # by default weight matrices only, no biases
    assert sorted(acc.Tags()["histograms"]) == sorted(
        [f"weights/{n}" for n in names] + [f"grads/{n}" for n in names]
    )
    assert [e.step for e in acc.Histograms("weights/0.weight")] == [1, 2]


def test_a_nan_loss_is_a_warning_with_its_step_not_a_point(tmp_path):
    model = _model()
    with SummaryWriter(tmp_path) as w, pytest.warns(NonFiniteLossWarning, match=r"at step 3\b"):
        trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), w, log_every=2)
        trainer.fit(_data(poison_at=20), epochs=1)  # sample 20 is in the 3rd batch of 8
    assert trainer.bad_steps[0] == 3
    frame = read_scalars(tmp_path)
    loss = frame[(frame.run == ".") & (frame.tag == "train/loss")]
    assert loss.step.tolist() == [2], "only the interval before the NaN is plotted"
    assert np.isfinite(frame.value).all(), "a non-finite value reached the event file"


def _lessonlib(*args: str, **kwargs) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "lessonlib", *args]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )


def test_cli_serves_a_folder_moves_off_a_busy_port_and_stops_on_ctrl_c(logdir):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        proc = _lessonlib("tensorboard", str(logdir), "--port", str(busy))
        try:
            first = proc.stdout.readline()
            assert "TensorBoard serves" in first and f"(port {busy} was busy)" in first, first
            url = first.split(" at ")[1].split()[0]
            port = int(url.rsplit(":", 1)[1].strip("/"))
            assert port > busy
            with urllib.request.urlopen(url + "data/runs", timeout=10) as resp:
                assert "long" in resp.read().decode()
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0
    assert "TensorBoard stopped." in out
    assert port_is_free(port), "the server still holds its port after Ctrl-C"


@pytest.mark.parametrize("target", ["99", "no-such-thing"])
def test_cli_unknown_lesson_or_folder_is_one_sentence(target):
    proc = _lessonlib("tensorboard", target)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
