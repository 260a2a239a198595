"""``lessonlib inspect`` on real, varied models: every applicable view, one sentence per view.

Models: an MLP (from a file:factory), the course's SmallCNN, torchvision's resnet18,
mobilenet_v3_small and vit_b_16 (random weights, nothing downloaded), a model with dict
outputs and one with two inputs; plus an ONNX file, a TorchScript file, a forward that fails
and the command's mistakes. Netron's screenshot (chromium) runs for one model only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from lessonlib.inspect import InspectError, inspect_model, parse_input
from lessonlib.inspect.analyses import dead_units, gradient_flow, relu_zero_fractions
from lessonlib.models import small_cnn

ROOT = Path(__file__).resolve().parents[2]
LESSONLIB = [sys.executable, "-m", "lessonlib"]
SECTIONS = [
    "summary", "graphs", "activations", "gradients", "weights", "gradcam", "onnx", "netron",
    "tensorboard",
]  # fmt: skip

MODELS = textwrap.dedent(
    """
    import torch
    from torch import nn


    class DictNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
            )
            self.cls = nn.Linear(8, 4)
            self.box = nn.Linear(8, 4)

        def forward(self, x):
            h = self.body(x)
            return {"logits": self.cls(h), "boxes": self.box(h)}


    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(10, 16), nn.Linear(6, 16)
            self.relu, self.head = nn.ReLU(), nn.Linear(16, 3)

        def forward(self, x, z):
            return self.head(self.relu(self.a(x) + self.b(z)))


    def mlp():
        return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                             nn.Linear(32, 5))


    def not_a_model():
        return 42
    """
)


@pytest.fixture(scope="module")
def models_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "models.py"
    path.write_text(MODELS, encoding="utf-8")
    return path


def check_report(result, applies: set[str], skipped: set[str] = frozenset()) -> str:
    """Every view is there with one sentence; ``applies`` ran, the rest say why they did not."""
    assert [s.key for s in result.sections] == SECTIONS
    for s in result.sections:
        assert s.finding and "\n" not in s.finding and s.finding.endswith((".", "…")), s
        if s.key in applies:
            assert s.status in ("ok", "flag"), (s.key, s.finding)
        if s.key in skipped:
            assert s.status == "skipped", (s.key, s.finding)
    html = result.html.read_text(encoding="utf-8")
    md = result.markdown.read_text(encoding="utf-8")
    for s in result.sections:
        assert s.finding in md
        for fig in s.figures:
            assert (result.out / fig.path).is_file(), fig.path
            assert f'src="{fig.path}"' in html and f"]({fig.path})" in md
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", html), "an outside resource"
    return html


def figures_of(result, key: str) -> list[str]:
    return [f.path for f in result.section(key).figures]


# ---------------------------------------------------------------- small models


def test_parse_input() -> None:
    assert parse_input("1,3,224,224").shape == (1, 3, 224, 224)
    assert parse_input("2x16:int64").dtype == "int64"
    assert parse_input("(1, 3, 8)").shape == (1, 3, 8)
    for bad in ("", "1,a", "1,x", "1,,3", "1,0,3", "2,3:complex"):
        with pytest.raises(InspectError):
            parse_input(bad)


def test_mlp_from_a_file(models_file: Path, tmp_path: Path) -> None:
    result = inspect_model(f"{models_file}:mlp", ["8,20"], out=tmp_path / "r", skip=("netron",))
    check_report(
        result,
        applies={"summary", "graphs", "activations", "gradients", "weights", "onnx", "tensorboard"},
        skipped={"gradcam", "netron"},
    )
    assert "1,893 parameters" in result.section("summary").finding
    assert "image classifiers" in result.section("gradcam").finding
    assert "matches PyTorch" in result.section("onnx").finding
    assert (result.out / "model.onnx").is_file()  # small enough to keep
    assert figures_of(result, "graphs") == [
        "figures/module_graph.svg",
        "figures/autograd_graph.svg",
    ]


def test_weights_and_dtype(models_file: Path, tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                          nn.Linear(32, 5))  # fmt: skip
    with torch.no_grad():
        model[4].weight.fill_(0.5)
    torch.save(model.state_dict(), tmp_path / "mlp.pth")
    keep = ("summary", "weights", "activations", "gradients")
    result = inspect_model(
        f"{models_file}:mlp", ["8,20"], weights=tmp_path / "mlp.pth", dtype="float64",
        out=tmp_path / "w", skip=tuple(set(SECTIONS) - set(keep)),
    )  # fmt: skip
    check_report(result, applies=set(keep))
    assert "weights from mlp.pth" in result.markdown.read_text(encoding="utf-8")
    assert "1 are constant (e.g. 4.weight)" in result.section("weights").finding
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(InspectError, match="does not fit mlp"):
        inspect_model(f"{models_file}:mlp", ["8,20"], weights=tmp_path / "other.pth",
                      out=tmp_path / "x")  # fmt: skip


def test_a_module_object_is_left_as_it_was(tmp_path: Path) -> None:
    model = small_cnn(seed=1).train()
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = inspect_model(model, ["2,3,64,64"], out=tmp_path / "cnn", skip=("onnx", "netron"))
    check_report(result, applies={"summary", "graphs", "activations", "gradients", "gradcam"})
    assert model.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert all(bool((p.grad == 7.0).all()) for p in model.parameters())
    hooks = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    assert sum(len(getattr(m, a)) for m in model.modules() for a in hooks) == 0
    assert result.section("gradcam").finding.startswith("Grad-CAM at features")
    assert figures_of(result, "gradcam") == ["figures/gradcam.png"]


def test_dict_outputs(models_file: Path, tmp_path: Path) -> None:
    result = inspect_model(
        f"{models_file}:DictNet", ["2,3,32,32"], out=tmp_path / "d", skip=("netron",)
    )
    check_report(
        result, applies={"summary", "activations", "gradients", "onnx", "tensorboard"},
        skipped={"gradcam"},
    )  # fmt: skip
    assert "returns dict" in result.section("gradcam").finding
    assert "no gradient" not in result.section("gradients").finding  # both heads get one
    assert "the graph" in result.section("tensorboard").finding


def test_two_inputs(models_file: Path, tmp_path: Path) -> None:
    result = inspect_model(
        f"{models_file}:TwoInputs", ["4,10", "4,6"], out=tmp_path / "t", skip=("netron",)
    )
    check_report(result, applies={"summary", "graphs", "activations", "gradients", "onnx"})
    assert "4×10 and 4×6" in result.section("summary").finding


def test_a_forward_that_fails_still_gives_a_report(tmp_path: Path) -> None:
    lesson = ROOT / "lessons" / "09_your_own_model" / "planted.py"
    result = inspect_model(
        f"{lesson}:planted_net", ["64,3,512,512"], out=tmp_path / "big",
        skip=("tensorboard", "netron"),
    )  # fmt: skip
    check_report(result, applies={"weights"}, skipped={"graphs", "activations", "onnx"})
    summary = result.section("summary")
    assert summary.status == "flag" and "'hidden'" in summary.finding and "8192" in summary.finding
    assert "fails at this input" in result.section("activations").finding


def test_the_planted_problems_are_found(tmp_path: Path) -> None:
    lesson = ROOT / "lessons" / "09_your_own_model" / "planted.py"
    result = inspect_model(
        f"{lesson}:planted_net", ["8,3,64,64"], out=tmp_path / "p",
        skip=("onnx", "netron", "tensorboard", "graphs"),
    )  # fmt: skip
    acts = result.section("activations")
    assert acts.status == "flag" and "act is mostly dead" in acts.finding
    assert "features.3" in acts.finding  # changed in place by ReLU(inplace=True)
    assert "no weight gets any gradient" in result.section("gradients").finding


def test_analyses_match_plain_torch() -> None:
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    with torch.no_grad():
        model[0].bias[:3] = -100.0
    x = torch.randn(16, 6)
    hidden = torch.relu(model[0](x))
    assert relu_zero_fractions(model, [x]) == {"1": float((hidden == 0).float().mean())}
    assert dead_units(model, [x])["1"][:3] == [0, 1, 2]
    loss = nn.functional.cross_entropy(model(x), torch.zeros(16, dtype=torch.long))
    flow = gradient_flow(model, loss)
    assert list(flow) == ["0.weight", "2.weight"] and all(
        p.grad is None for p in model.parameters()
    )


def test_onnx_and_torchscript_files(models_file: Path, tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5)).eval()
    torch.onnx.export(model, (torch.randn(2, 20),), str(tmp_path / "m.onnx"), dynamo=False)
    result = inspect_model(tmp_path / "m.onnx", [], out=tmp_path / "o", skip=("netron",))
    check_report(result, applies={"onnx", "weights", "tensorboard"}, skipped={"summary", "gradcam"})
    assert "runs on onnxruntime" in result.section("onnx").finding
    torch.jit.script(model).save(str(tmp_path / "m.pt"))
    result = inspect_model(tmp_path / "m.pt", ["2,20"], out=tmp_path / "s", skip=("netron",))
    check_report(result, applies={"summary", "weights"})


# ---------------------------------------------------------------- torchvision models


def test_resnet18(tmp_path: Path) -> None:
    result = inspect_model("torchvision:resnet18", ["1,3,224,224"], out=tmp_path / "resnet18",
                           skip=("netron",))  # fmt: skip
    check_report(result, applies=set(SECTIONS) - {"netron"}, skipped={"netron"})
    assert "11,689,512 parameters" in result.section("summary").finding
    assert result.section("gradcam").finding.startswith("Grad-CAM at layer4 ")
    diff = float(re.search(r"to ([0-9.e+-]+) on onnxruntime", result.section("onnx").finding)[1])
    assert diff <= 1e-4
    size = sum(f.stat().st_size for f in result.out.rglob("*") if f.is_file())
    assert size <= 10 << 20
    assert len(re.findall(r"<img\b", result.html.read_text(encoding="utf-8"))) >= 6
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(result.out / "tensorboard"))
    acc.Reload()
    tags = acc.Tags()
    assert acc.Graph() is not None
    assert "weights/fc.weight" in tags["histograms"] and "inputs" in tags["images"]


def test_mobilenet_v3_small(tmp_path: Path) -> None:
    result = inspect_model("torchvision:mobilenet_v3_small", ["1,3,224,224"],
                           out=tmp_path / "mnv3", skip=("netron",))  # fmt: skip
    check_report(result, applies=set(SECTIONS) - {"netron"})
    assert "2,542,856 parameters" in result.section("summary").finding
    assert result.section("gradcam").finding.startswith("Grad-CAM at features ")


def test_vit_b_16_add_graph_fails_in_one_sentence(tmp_path: Path) -> None:
    result = inspect_model("torchvision:vit_b_16", ["1,3,224,224"], out=tmp_path / "vit",
                           skip=("onnx", "netron"))  # fmt: skip
    check_report(
        result, applies={"summary", "graphs", "activations", "gradients", "weights", "tensorboard"}
    )
    assert "86,567,656 parameters" in result.section("summary").finding
    tb = result.section("tensorboard").finding
    assert "add_graph's tracing fails (TracingCheckError" in tb and "weight histograms" in tb
    assert "no nn.ReLU modules" in result.section("activations").finding
    assert "patch embedding" in result.section("gradcam").finding


@pytest.mark.browser
def test_netron_screenshot(tmp_path: Path) -> None:
    from lessonlib.web import chromium_path

    if chromium_path() is None:
        pytest.skip("no chromium")
    result = inspect_model(small_cnn(seed=0), ["1,3,64,64"], out=tmp_path / "n",
                           skip=("graphs", "tensorboard"))  # fmt: skip
    netron = result.section("netron")
    assert netron.status == "ok" and re.search(r"Netron draws \d+ nodes", netron.finding)
    assert (result.out / "figures" / "netron.png").stat().st_size > 10_000


# ---------------------------------------------------------------- the command


def run_cli(*args: str, cwd: Path, env: dict | None = None, offline: bool = False):
    cmd = [*LESSONLIB, "inspect", *args]
    if offline:
        cmd = ["unshare", "-n", *cmd]
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(cmd, cwd=cwd, env=environ, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("target", "shape", "words"),
    [
        ("no_such_file.py:make", "1,3", "does not exist"),
        ("{models}:nope", "1,3", "has no function or class 'nope'"),
        ("{models}:not_a_model", "1,3", "not an nn.Module"),
        ("{models}:mlp", "1,x", "is not a shape"),
        ("torchvision:resnet1800", "1,3,224,224", "torchvision has no model"),
    ],
)
def test_bad_input_is_one_sentence(models_file, tmp_path, target, shape, words) -> None:
    target = target.format(models=models_file)
    done = run_cli(target, "--input", shape, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_offline_writes_only_its_report(models_file: Path, tmp_path: Path) -> None:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs 'unshare -n' (root) to cut the network")
    build, cwd = tmp_path / "build", tmp_path / "cwd"
    cwd.mkdir()
    offline = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    done = run_cli(
        f"{models_file}:mlp", "--input", "4,20", "--skip", "netron", cwd=cwd,
        env={"LESSONLIB_BUILD": str(build), "MPLCONFIGDIR": str(tmp_path / "mpl")},
        offline=offline,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "report: " in done.stdout
    written = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    outside = {
        p for p in written
        if p.parts[:3] != ("build", "inspect", "mlp") and p.parts[0] not in ("mpl", "models")
    }  # fmt: skip
    assert not outside, sorted(outside)
    assert Path("build/inspect/mlp/report.html") in written
    assert not list(build.glob("inspect/mlp/.scratch"))  # the scratch folder is gone
