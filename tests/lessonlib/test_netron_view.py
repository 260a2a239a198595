"""Netron serving real ONNX files, as `lessonlib netron` and the lesson's screenshot use it."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
import warnings
from datetime import timedelta
from pathlib import Path

import onnx
import pytest
import torch
from server_cli import serve_then_ctrl_c

from lessonlib.errors import LessonlibError
from lessonlib.models import small_cnn, tiny_mlp
from lessonlib.netron import (
    check_model_file,
    netron_build_date,
    screenshot_netron,
    screenshot_netron_pages,
    serve_netron,
)
from lessonlib.paths import project_root
from lessonlib.web import answers, chromium_path


def _export(model, example, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            (example,),
            str(path),
            dynamo=False,
            input_names=["input"],
            output_names=["output"],
        )
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("netron")
    return {
        "cnn": _export(small_cnn(seed=0), torch.randn(1, 3, 32, 32), folder / "cnn.onnx"),
        "mlp": _export(tiny_mlp(seed=0), torch.randn(2, 8), folder / "mlp.onnx"),
    }


def test_build_date_comes_from_netrons_page():
    date = netron_build_date()
    import netron

    html = (Path(netron.__file__).parent / "index.html").read_text(encoding="utf-8")
    assert date.strftime("%Y-%m-%d") in html


def test_serves_and_stops(models):
    with serve_netron(models["cnn"]) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        page = urllib.request.urlopen(server.url + "/", timeout=5).read().decode()
        assert '<meta name="file" content="/data/cnn.onnx">' in page
        data = urllib.request.urlopen(server.url + "/data/cnn.onnx", timeout=5).read()
        assert data == models["cnn"].read_bytes()
    assert not answers(server.url + "/")


def test_two_servers_show_their_own_models(models):
    with serve_netron(models["cnn"]) as a, serve_netron(models["mlp"]) as b:
        page_a = urllib.request.urlopen(a.url + "/", timeout=5).read().decode()
        page_b = urllib.request.urlopen(b.url + "/", timeout=5).read().decode()
    assert "/data/cnn.onnx" in page_a and "/data/mlp.onnx" in page_b


@pytest.mark.parametrize(
    ("name", "content", "sentence"),
    [
        ("missing.onnx", None, "does not exist"),
        ("garbage.onnx", b"\x08\x01this is not protobuf\xff\xff", "is not a valid ONNX file"),
        ("empty.onnx", b"", "is not a model file"),
    ],
)
def test_bad_files_are_one_sentence(tmp_path, name, content, sentence):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LessonlibError, match=sentence):
        check_model_file(path)


def _cli(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "lessonlib", "netron", *map(str, args)],
        cwd=project_root(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.parametrize("bad", ["missing.onnx", "garbage.onnx"])
def test_cli_bad_file_exits_2(tmp_path, bad):
    (tmp_path / "garbage.onnx").write_bytes(b"not an onnx file at all")
    proc = _cli(tmp_path / bad)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, out + err
    assert (
        err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    )


def test_cli_prints_url_and_stops_on_ctrl_c(models):
    proc = _cli(models["mlp"])
    url, out, err = serve_then_ctrl_c(proc)
    assert proc.returncode == 0, err
    assert not answers(url + "/")


@pytest.mark.browser
@pytest.mark.skipif(chromium_path() is None, reason="needs the system chromium")
def test_page_shows_the_graph_not_a_dialog(models, tmp_path):
    with serve_netron(models["cnn"]) as server:
        png = tmp_path / "cnn.png"
        drawn = screenshot_netron(server.url, png)
    ops = len(onnx.load(str(models["cnn"])).graph.node)
    assert drawn >= ops, f"{drawn} nodes drawn for a graph of {ops} operators"
    assert png.stat().st_size > 10_000


@pytest.mark.browser
@pytest.mark.skipif(chromium_path() is None, reason="needs the system chromium")
def test_without_the_clock_fix_netron_locks_itself(models, tmp_path):
    late = netron_build_date() + timedelta(days=200)
    with (
        serve_netron(models["mlp"]) as server,
        pytest.raises(LessonlibError, match="Please update"),
    ):
        screenshot_netron_pages([(server.url, tmp_path / "late.png")], clock=late, timeout_s=2)
