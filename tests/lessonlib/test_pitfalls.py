"""The source posts' traps, as the lessons correct them: each test fails if a trap returns.

Lessons 01, 03, 04 and 07 show each trap run for real in an "If you come from the posts"
callout, then the corrected recipe; these tests pin the corrected recipes (and the facts the
callouts state) so that the pages stay true.
"""

from __future__ import annotations

import math
import re
import warnings

import pytest
import torch
from torch import nn

from lessonlib.gradcam import grad_cam, hook_count
from lessonlib.models import device, small_cnn
from lessonlib.paths import project_root
from lessonlib.plotting import gray_to_rgb, inverse_normalize_uint8

# --------------------------------------------------------------------------- device


def test_device_follows_cuda_availability(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device() == torch.device("cuda")


def test_a_module_has_no_device_but_its_parameters_do():
    model = nn.Linear(2, 2).to(device())
    assert not hasattr(model, "device")  # post 003's self.G.device
    assert next(model.parameters()).device.type == device().type


# --------------------------------------------------------------------------- post 002's images


def test_inverse_normalize_uint8_returns_the_original_pixels():
    mean, std = [100.0, 120.0, 80.0], [25.0, 30.0, 50.0]
    pixels = torch.randint(0, 256, (3, 5, 7), dtype=torch.uint8)
    normalized = (pixels.float() - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(
        3, 1, 1
    )
    out = inverse_normalize_uint8(normalized, mean, std)
    assert out.dtype == torch.uint8  # post 002's helper dropped the cast: float32
    assert torch.equal(out, pixels)


def test_inverse_normalize_uint8_rounds_and_clips_before_the_cast():
    values = torch.tensor([[[154.9, 256.0, -3.0, 0.4]]])  # (1, 1, 4), mean 0, std 1
    out = inverse_normalize_uint8(values, [0.0], [1.0])
    assert out.tolist() == [[[155, 255, 0, 0]]]  # a bare .to(uint8) gives 154, 0, 253, 0


def test_grayscale_goes_through_with_its_own_mean_and_std():
    gray = torch.tensor([[0.0, 1.0], [-1.0, 2.0]])  # (H, W), normalized with mean 100, std 25
    out = gray_to_rgb(inverse_normalize_uint8(gray, [100.0], [25.0]))
    assert out.shape == (3, 2, 2) and out.dtype == torch.uint8
    assert out[0].tolist() == [[100, 125], [75, 150]]
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])


def test_inverse_normalize_uint8_refuses_a_mean_per_wrong_channel_count():
    with pytest.raises(ValueError, match="one value per channel"):
        inverse_normalize_uint8(torch.zeros(3, 2, 2), [100.0], [25.0])
    with pytest.raises(ValueError, match=r"\(H, W\) or \(1, H, W\)"):
        gray_to_rgb(torch.zeros(3, 2, 2))


# --------------------------------------------------------------------------- scheduler


def test_logged_learning_rate_follows_the_scheduler(tmp_path):
    from tbparse import SummaryReader
    from torch.optim.lr_scheduler import CosineAnnealingLR
    from torch.utils.tensorboard import SummaryWriter

    model = nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    steps = 12
    sched = CosineAnnealingLR(opt, T_max=steps)
    with SummaryWriter(tmp_path) as writer:
        for step in range(steps):  # lesson 04's recipe: log before stepping
            writer.add_scalar("train/lr", sched.get_last_lr()[0], step)
            model(torch.randn(3, 4)).sum().backward()
            opt.step()
            sched.step()
    frame = SummaryReader(str(tmp_path)).scalars.sort_values("step")
    assert frame.step.tolist() == list(range(steps))
    expected = [0.1 * (1 + math.cos(math.pi * k / steps)) / 2 for k in range(steps)]
    assert frame.value.tolist() == pytest.approx(expected, abs=1e-7)
    assert frame.value.iloc[0] == pytest.approx(0.1)  # post 003's order logs the second rate first


# --------------------------------------------------------------------------- hooks


def test_grad_cam_leaves_no_hooks_after_two_calls():
    model = small_cnn().eval()
    images = torch.rand(2, 3, 64, 64)
    for _ in range(2):
        grad_cam(model, model.target_layer_name, images)
    assert hook_count(model) == 0


def test_hook_count_sees_hooks_that_pile_up():
    """Post 003's GradCAM registers two hooks per instance and never removes them."""
    model = small_cnn().eval()
    layer = model.get_submodule(model.target_layer_name)
    for _ in range(2):
        layer.register_forward_hook(lambda *args: None)
        layer.register_full_backward_hook(lambda *args: None)
    assert hook_count(model) == 4


# --------------------------------------------------------------------------- add_graph


def test_add_graph_of_attention_fails_with_grad_and_works_under_no_grad(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter
    from torchvision.models.vision_transformer import EncoderBlock

    torch.manual_seed(0)
    block = EncoderBlock(2, 8, 16, dropout=0.0, attention_dropout=0.0).eval()  # as in vit_b_16
    tokens = torch.randn(1, 5, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with SummaryWriter(tmp_path / "fails") as writer:
            with pytest.raises(torch.jit.TracingCheckError):
                writer.add_graph(block, tokens, use_strict_trace=False)
        with SummaryWriter(tmp_path / "works") as writer, torch.no_grad():
            writer.add_graph(block, tokens)
    graph = EventAccumulator(str(tmp_path / "works")).Reload().Graph()
    assert "aten::_native_multi_head_attention" in {node.op for node in graph.node}


# --------------------------------------------------------------------------- optuna


def test_optuna_tensorboard_callback_still_needs_the_integration_package():
    with pytest.raises(ImportError, match="optuna-integration"):
        from optuna.integration import TensorBoardCallback  # noqa: F401


# --------------------------------------------------------------------------- old APIs


def test_variable_is_a_plain_tensor_over_the_same_data():
    from torch.autograd import Variable

    t = torch.randn(1, 8)
    v = Variable(t)  # post 002
    assert type(v) is torch.Tensor and not v.requires_grad
    assert v.data_ptr() == t.data_ptr()


def test_pretrained_warns_and_weights_none_does_not():
    from torchvision.models import resnet18

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resnet18(pretrained=False)  # never True here: that downloads
    assert any("'pretrained' is deprecated" in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resnet18(weights=None)


# --------------------------------------------------------------------------- GPU memory


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_peak_memory_grows_with_the_batch_on_a_gpu():
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU()).to(device())
    peaks = []
    for batch in (4, 16):
        images = torch.randn(batch, 3, 64, 64, device=device())
        model.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        model(images).sum().backward()
        torch.cuda.synchronize()
        peaks.append(torch.cuda.max_memory_allocated())
    assert peaks[1] > 2 * peaks[0] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU branch")
def test_peak_memory_stats_raise_without_a_gpu():
    with pytest.raises(RuntimeError):
        torch.cuda.reset_peak_memory_stats()  # post 003's profile_memory, on a CPU machine


# --------------------------------------------------------------------------- the callouts

_CALLOUT = re.compile(
    r'<div class="admonition warning">\n<p class="admonition-title">If you come from the posts</p>'
    r"\n\n(?P<body>.+?)\n\n</div>",
    re.S,
)


def _markdown_cells(path):
    """The markdown cells of a percent script, uncommented (as jupytext reads them)."""
    cells = re.split(r"^# %%.*$", path.read_text(encoding="utf-8"), flags=re.M)
    heads = re.findall(r"^# %%.*$", path.read_text(encoding="utf-8"), flags=re.M)
    return [
        "\n".join(re.sub(r"^# ?", "", line) for line in body.strip("\n").splitlines())
        for head, body in zip(heads, cells[1:], strict=True)
        if "[markdown]" in head
    ]


@pytest.mark.parametrize("lesson", ["01", "03", "04", "07"])
def test_each_lesson_names_its_traps_in_callouts_the_site_renders(lesson):
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    (script,) = (project_root() / "lessons").glob(f"{lesson}_*/lesson.py")
    cells = [c for c in _markdown_cells(script) if "admonition" in c]
    assert cells, f"lesson {lesson} has no 'If you come from the posts' callout"
    for cell in cells:
        match = _CALLOUT.search(cell)
        assert match, f"a malformed callout in lesson {lesson}:\n{cell}"
        assert re.search(r"Post 00\d", match["body"]), "a callout names the post it corrects"
        html = markdown2html_mistune(cell)  # what the site's notebook renderer does
        assert '<p class="admonition-title">If you come from the posts</p>' in html
        assert "<p>Post 00" in html  # the body is rendered as markdown, not shown as source
