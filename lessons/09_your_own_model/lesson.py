# %% [markdown]
# # Lesson 09 — Your own model, every view
#
# Lessons 01–07 each opened one window into a model: the autograd graph, the torchinfo table,
# TensorBoard, ONNX and Netron, hooks and Grad-CAM. Here they all look at **one model of
# your own**, with one command:
#
# ```bash
# lessonlib inspect path/to/model.py:make_model --input 8,3,64,64
# lessonlib inspect torchvision:resnet18 --input 1,3,224,224     # random weights, offline
# ```
#
# It writes `build/inspect/<name>/report.html` (opens offline from a file) and `report.md`,
# with a TensorBoard log beside them. Each view states what it found in one sentence. Our
# model has three planted problems, the kind that cost a day when you meet them in your own
# code:
#
# 1. a layer whose bias starts far below zero, so the ReLU after it **dies**;
# 2. a `ReLU(inplace=True)` that **changes a tensor a hook saw**, and breaks a backward hook;
# 3. a head sized for 64×64 images, which **fails on any other size**, caught on the meta
#    device before a single real multiply.
#
# You will see which view reveals each one, check it with the seed tool's own API, fix the
# model and inspect it again. Everything the lesson writes lands in `build/09/`.

# %%
import importlib.util
import inspect as source_code

import torch
import torch.nn.functional as F  # noqa: N812

from lessonlib.figures import show_figure
from lessonlib.inspect import inspect_model
from lessonlib.paths import build_dir, project_root

OUT = build_dir("09")
spec = importlib.util.spec_from_file_location(
    "planted", project_root() / "lessons" / "09_your_own_model" / "planted.py"
)
planted = importlib.util.module_from_spec(spec)
spec.loader.exec_module(planted)


def findings(result):
    """One line per view: ! found a problem, - could not apply."""
    for s in result.sections:
        mark = {"flag": "!", "skipped": "-"}.get(s.status, " ")
        print(f"{mark} {s.key:<12} {s.finding}")


# %% [markdown]
# ## 1. The model
#
# Two conv blocks, a hidden linear layer and a five-class head, for the course's 64×64 shape
# images. Read `__init__` closely: the three problems are all in plain sight.

# %%
print(source_code.getsource(planted.PlantedNet.__init__))
model = planted.planted_net(seed=0)

# %% [markdown]
# ## 2. One report
#
# `inspect_model` is what the command runs. It takes a target string or, as here, a module
# you already hold: it leaves its weights, mode and `.grad` as it found them and no hooks
# behind. The batch is eight seeded shape images.

# %%
report = inspect_model(model, ["8,3,64,64"], out=OUT / "planted", name="planted_net")
findings(report)

# %% [markdown]
# The summary, graphs, weights, ONNX export and Netron see nothing wrong: the model is
# well-formed, exports, and onnxruntime agrees with PyTorch. The problems show up where the
# report *runs* the model and looks at the numbers.
#
# ## 3. The dead layer: activations and gradient flow
#
# The activations view hooks every module for one forward pass. After `act`, every value
# is zero for every image: all 64 units are **dead**. The gradient view then finds that no
# weight gets any gradient, and Grad-CAM's map is flat: with `act` dead the logits do not
# depend on anything before it, so nothing upstream can learn.

# %%
show_figure(
    report.out / "figures" / "activations.png",
    caption="The planted model's activations: `act` (the last bar) is 100 % zeros and all its "
    "units are dead (red); the conv ReLUs are about half zeros, as ReLUs should be.",
    alt="Two panels: per-layer activation mean and spread, then bars of zero fractions per "
    "ReLU, with the last ReLU at 100 % zeros and a full red bar for dead units.",
)

# %% [markdown]
# The same finding with a plain forward hook, the seed tool itself: `hidden`'s outputs are
# all below zero, so its ReLU outputs nothing. The bias of −8 outweighs everything the
# weights (about ±0.01 each, as `nn.Linear` initialises 8192 inputs) can add.

# %%
seen = {}
handle = model.hidden.register_forward_hook(lambda m, i, out: seen.update(pre=out.detach()))
try:
    with torch.no_grad():
        logits = model(torch.rand(8, 3, 64, 64))
finally:
    handle.remove()
print(f"largest pre-activation of hidden: {seen['pre'].max():.2f}")
print(f"fraction of zeros after act: {(F.relu(seen['pre']) == 0).float().mean():.0%}")
x, y = torch.rand(8, 3, 64, 64), torch.arange(8) % 5
grads = torch.autograd.grad(F.cross_entropy(model(x), y), [model.hidden.weight, model.head.weight])
print("mean |grad| of hidden.weight, head.weight:", [f"{g.abs().mean():.1e}" for g in grads])

# %% [markdown]
# ## 4. The in-place ReLU: what a hook saw is gone
#
# The activations view also says that `features.3`'s output *was changed in place after its
# hook ran*: the conv's output tensor is overwritten by `ReLU(inplace=True)`. A hook that
# keeps the tensor (instead of a copy, or of numbers taken at once) ends up holding the
# ReLU's output, and a full backward hook on the conv refuses to run at all.

# %%
kept = {}
handle = model.features[3].register_forward_hook(lambda m, i, out: kept.update(out=out))
with torch.no_grad():
    model(x)
handle.remove()
print(f"zeros in the conv output the hook kept: {(kept['out'] == 0).float().mean():.0%}")

handle = model.features[3].register_full_backward_hook(lambda m, gin, gout: None)
try:
    model(x)
except RuntimeError as err:
    print("full backward hook:", str(err).split(".")[0] + ".")
finally:
    handle.remove()

# %% [markdown]
# A convolution's output is almost never exactly zero, yet half of what the hook kept is: it
# is the ReLU's output. The report is not fooled, because it takes its statistics inside
# the hook, at once; it flags the layer so you know a kept tensor would lie.
#
# ## 5. The wrong size, caught on the meta device
#
# `hidden` expects `32 * 16 * 16` inputs, the grid a 64×64 image leaves. Ask for a batch of
# 256 images of 512×512 (768 MB of input on a real device) and the summary view runs the
# model on the **meta** device: shapes only, no memory, no time, the weights untouched. It
# names the layer and both sizes; every view that needs a forward pass says so in one
# sentence, and the report is still written.

# %%
big = inspect_model(
    model, ["256,3,512,512"], out=OUT / "big", name="planted_big",
    skip=("weights", "tensorboard"),
)  # fmt: skip
findings(big)

# %% [markdown]
# The seed tool does the same thing: build (or copy) the model on the meta device and call
# it. The error is torch's own, less friendly, and costs nothing either.

# %%
with torch.device("meta"):
    twin = planted.PlantedNet()
try:
    twin(torch.empty(256, 3, 512, 512, device="meta"))
except RuntimeError as err:
    print(str(err).splitlines()[0])
print("the real model still has its weights:", model.hidden.weight.device)

# %% [markdown]
# ## 6. Fixed, and inspected again
#
# `fixed_net` sets `hidden`'s bias to zero and makes the ReLU out of place (the size
# constraint stays: it is a property of a flatten-then-linear head, a global pooling layer
# would remove it). The same command (the views that found nothing are left out this time),
# and the layer lives: about half of `act`'s outputs are zero, as after any ReLU, and every
# weight gets a gradient.

# %%
fixed = inspect_model(
    planted.fixed_net(seed=0), ["8,3,64,64"], out=OUT / "fixed", name="fixed_net",
    skip=("graphs", "onnx", "netron", "tensorboard"),
)  # fmt: skip
findings(fixed)

# %% [markdown]
# ## 7. The whole report
#
# Here is the planted model's report as the command writes it (figures inlined): the same
# page opens from `build/09/planted/report.html`, and `lessonlib tensorboard
# build/09/planted/tensorboard` serves its log.

# %%
try:
    from IPython import get_ipython
    from IPython.display import HTML, display

    in_kernel = get_ipython() is not None
except ImportError:
    in_kernel = False
if in_kernel:
    display(HTML(report.embedded_html()))
else:
    print(f"open {report.html.relative_to(OUT.parent.parent)} in a browser")

# %% [markdown]
# ## What to try
#
# - Inspect your own model: `lessonlib inspect my_model.py:make_model --input 1,3,224,224`
#   (a function or class that returns it; `--weights model.pth` loads a state dict).
# - `lessonlib inspect torchvision:vit_b_16 --input 1,3,224,224`: why does its gradient view
#   find no gradient anywhere but the head? (Look at how torchvision initialises `heads`.)
# - Set `dead_bias=-1.0` in `PlantedNet`: how many units die now, and does training revive
#   them?
# - Now write four of the report's analyses yourself: `lessonlib check 09`, and
#   `lessonlib hint 09.1` when stuck.
