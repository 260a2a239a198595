# %% [markdown]
# # Lesson 03 — Model summaries
#
# Before you train a network you want to know three things about it: **what shapes** flow
# through it, **how many parameters** it has (and which of them will learn), and **what it
# costs** — multiply-adds per batch, and memory for weights and activations. In this lesson:
#
# - see what `print(model)` tells you, and what it does not;
# - read **torchinfo**'s `summary` table line by line, and reproduce the published figures
#   for `resnet18` at batch 32 and `vgg16`;
# - shape the table with `depth`, `col_names`, `row_settings` and `verbose`;
# - count trainable and frozen parameters after freezing a backbone;
# - compare with the legacy **torchsummary**, and see why torchinfo replaced it;
# - summarise `vgg16` at batch 250 in a blink on the **meta device** — without wiping the
#   weights of the model you pass in;
# - turn a failing forward pass into one readable sentence, and keep a summary as text.
#
# Run it with `lessonlib run 03`; every file it writes lands in `build/03/`.

# %%
import time

import matplotlib.pyplot as plt
import torch
from torch import nn
from torchinfo import summary
from torchvision.models import resnet18, vgg16

from lessonlib.figures import show_figure
from lessonlib.models import device
from lessonlib.paths import build_dir

torch.manual_seed(0)
OUT = build_dir("03")

# %% [markdown]
# ## 1. `print(model)`
#
# Printing a module lists its submodules and their constructor arguments. Here is a small
# CNN with one twist: a learnable per-channel `scale`, a bare `nn.Parameter` rather than a
# layer.


# %%
class TinyNet(nn.Module):
    def __init__(self, n_classes: int = 5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.scale = nn.Parameter(torch.ones(32))
        self.head = nn.Linear(32, n_classes)

    def forward(self, x):
        return self.head(self.features(x).flatten(1) * self.scale)


net = TinyNet()
print(net)

# %% [markdown]
# You see the layers and their settings, but not: the **shape** of each layer's output
# (does a 64x64 image reach the head as 32 numbers?), the **number of parameters** (and the
# `scale` vector does not appear at all), nor the **cost** of a forward pass. Counting
# parameters by hand is one line; everything else needs a forward pass.

# %%
n_params = sum(p.numel() for p in net.parameters())
print(f"TinyNet: {n_params:,} parameters in {len(list(net.parameters()))} tensors")

# %% [markdown]
# ## 2. torchinfo's `summary`: resnet18 at batch 32
#
# `summary(model, input_size=...)` builds a random input of that size (batch first), runs
# one forward pass with hooks on every module, and tabulates what it saw. The call below is
# the one from source post 004 ("model structure visualization": `print(model)`, torchinfo,
# torchviz, torchview on resnet18); our figures must match the ones it published exactly:
# 11,689,512 parameters, 58.05 G mult-adds, 46.76 MB of parameters, 1271.92 MB for the
# forward/backward pass. The table has a row per module (about 70 for resnet18): below are
# its head and its totals; the whole table is saved as `build/03/resnet18_b32_summary.txt`.

# %%
resnet = resnet18(weights=None)  # the architecture with random weights: no download
t0 = time.perf_counter()
stats = summary(resnet, input_size=(32, 3, 224, 224), verbose=0)  # verbose=0: print it ourselves
took = time.perf_counter() - t0
table = str(stats)
(OUT / "resnet18_b32_summary.txt").write_text(table, encoding="utf-8")
lines = table.splitlines()
rules = [i for i, line in enumerate(lines) if line.startswith("=")]  # the table's ==== lines
hidden = rules[2] - rules[1] - 13
print("\n".join(lines[: rules[1] + 13]))
print(f"… {hidden} more rows: the full table is in build/03/resnet18_b32_summary.txt")
print("\n".join(lines[rules[2] :]))
print(f"(summary on the CPU took {took:.1f} s)")

# %% [markdown]
# <div class="admonition warning">
# <p class="admonition-title">If you come from the posts</p>
#
# Post 004 (the resnet18 walk-through of `print(model)`, torchinfo and torchview) starts
# with `models.resnet18(pretrained=True)`, and posts 002 and 003 pass `pretrained=False`.
# Since torchvision 0.13 the argument is `weights=`: `pretrained=` still works but warns,
# and `pretrained=True` downloads ImageNet weights, which fails on a machine with no
# internet. The warnings, from the offline-safe `pretrained=False`:
#
# </div>

# %%
import warnings

from torchvision.models import ResNet18_Weights

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    resnet18(pretrained=False)
for warning in caught:
    print(f"{warning.category.__name__}: {warning.message}")
print("weights=ResNet18_Weights.DEFAULT would fetch", ResNet18_Weights.DEFAULT.url)

# %% [markdown]
# Write `resnet18(weights=None)` for random weights (as this course does) and
# `resnet18(weights=ResNet18_Weights.DEFAULT)` for the pretrained ones, which are downloaded
# once into `torch.hub.get_dir()` and loaded from there afterwards.

# %% [markdown]
# **Reading the last block.**
#
# - `Total mult-adds (Units.GIGABYTES): 58.05` reads "58.05 G mult-adds" for the whole
#   batch of 32. The odd unit label is a Python 3.11 quirk: torchinfo's `Units` is a
#   `class Units(str, Enum)`, and since 3.11 formatting such a mixed-in enum in an f-string
#   gives its name, `Units.GIGABYTES`, instead of its value `G` (older Pythons print `(G)`).
# - `Params size (MB)` is parameters × 4 bytes (float32), with 1 MB = 10⁶ bytes.
# - `Input size (MB)` is the input tensor: 32 × 3 × 224 × 224 × 4 bytes.
# - `Forward/backward pass size (MB)` is an *estimate*: the outputs of every leaf layer that
#   has parameters, × 2 (the gradient of each output during backward). Layers without
#   parameters (ReLU, pooling) are not counted, so real training needs more.
#
# The returned `ModelStatistics` object holds the raw numbers, so we can check the
# arithmetic ourselves:

# %%
leaf_outputs = sum(
    layer.output_bytes for layer in stats.summary_list if layer.is_leaf_layer and layer.num_params
)
print(f"params × 4 bytes          = {stats.total_params * 4 / 1e6:.2f} MB")
print(f"input 32×3×224×224 × 4 B  = {32 * 3 * 224 * 224 * 4 / 1e6:.2f} MB")
print(f"2 × outputs of param layers = {2 * leaf_outputs / 1e6:.2f} MB")
print(f"mult-adds = {stats.total_mult_adds:,} = {stats.total_mult_adds / 32 / 1e9:.2f} G per image")

# %% [markdown]
# Mult-adds of a convolution: every weight is used once per output position. The first
# layer of resnet18 has 64 × 3 × 7 × 7 = 9,408 weights and produces 32 × 112 × 112 output
# positions (exercise 03.3 generalises this):

# %%
conv1 = stats.summary_list[1]
print(conv1.class_name, conv1.output_size, f"{conv1.macs:,}")
print(f"9,408 × 32 × 112 × 112 = {9408 * 32 * 112 * 112:,}")

# %% [markdown]
# ### What a GPU really uses
#
# torchinfo's sizes are estimates. On a GPU, PyTorch's memory allocator counts every byte
# it hands out: `torch.cuda.reset_peak_memory_stats()` zeroes its high-water mark and
# `torch.cuda.max_memory_allocated()` reads it. Around one training step (forward and
# backward) per batch size, that is the memory the step really needed, to set against
# torchinfo's "Estimated Total Size". The device is picked once, as everywhere in the
# course: `"cuda"` if `torch.cuda.is_available()`, else `"cpu"`.
#
# <div class="admonition warning">
# <p class="admonition-title">If you come from the posts</p>
#
# Post 003 (*27. TensorBoard 시각화*, section 11.2) measures memory with a
# `profile_memory(model, input_size, device='cuda')` that calls
# `torch.cuda.reset_peak_memory_stats()` unconditionally. On a machine without a GPU that
# call raises; the cell below shows the error there and skips the table.
#
# </div>

# %%
dev = device()  # torch.device("cuda" if torch.cuda.is_available() else "cpu")
if dev.type == "cuda":
    gpu_resnet = resnet18(weights=None).to(dev)
    print("batch   torchinfo estimate   measured peak (forward + backward)")
    for batch in (8, 16, 32, 64):
        images = torch.randn(batch, 3, 224, 224, device=dev)
        estimate = summary(gpu_resnet, input_data=images, verbose=0)
        estimate_mb = (
            estimate.total_input + estimate.total_output_bytes + estimate.total_param_bytes
        ) / 1e6
        gpu_resnet.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        gpu_resnet(images).sum().backward()
        torch.cuda.synchronize()
        peak_mb = torch.cuda.max_memory_allocated() / 1e6
        print(f"{batch:5d}   {estimate_mb:15,.0f} MB   {peak_mb:15,.0f} MB")
        del images
else:
    try:
        torch.cuda.reset_peak_memory_stats()  # what post 003's profile_memory does first
    except RuntimeError as err:
        print(f"post 003's profile_memory stops here, as expected: {type(err).__name__}: {err}")
    print("No GPU on this machine, so the table of peak memory per batch size is skipped.")

# %% [markdown]
# ## 3. Shaping the table
#
# The second argument of `summary` is `input_size`. The options:
#
# - `depth`: how many levels of nested modules to open (default 3);
# - `col_names`: any of `"input_size"`, `"output_size"`, `"num_params"`,
#   `"params_percent"`, `"kernel_size"`, `"mult_adds"`, `"trainable"`;
# - `row_settings`: `"depth"` (the `1-3` index), `"var_names"` (the attribute name),
#   `"ascii_only"` (no box-drawing characters, for old terminals and some log viewers);
# - `verbose`: 0 prints nothing (you still get the object), 1 prints the table (default in
#   scripts; in a notebook the default is 0, so pass it to see the table), 2 also lists
#   every weight and bias tensor.

# %%
cols = ["input_size", "output_size", "num_params", "params_percent", "kernel_size"]
cols += ["mult_adds", "trainable"]
_ = summary(net, (8, 3, 64, 64), col_names=cols, row_settings=("var_names",), verbose=1)

# %%
cols = ["output_size", "num_params", "mult_adds"]
_ = summary(
    resnet, (1, 3, 224, 224), depth=1, col_names=cols, row_settings=["ascii_only"], verbose=1
)

# %%
mlp = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
_ = summary(mlp, input_size=(1, 4), verbose=2)

# %% [markdown]
# ## 4. Frozen layers
#
# Fine-tuning often freezes a pretrained backbone and trains only a new head. Freezing is
# `requires_grad_(False)`; the summary splits the count, and the `trainable` column shows
# `False` for frozen layers and `Partial` for containers with both kinds.

# %%
tuned = resnet18(weights=None)
tuned.requires_grad_(False)
tuned.fc = nn.Linear(512, 5)  # a new layer is trainable by default
frozen = summary(tuned, (1, 3, 224, 224), depth=1, col_names=["num_params", "trainable"], verbose=1)
share = frozen.trainable_params / frozen.total_params
print(f"trainable {frozen.trainable_params:,} of {frozen.total_params:,} ({share:.3%})")

# %% [markdown]
# ## 5. The legacy torchsummary
#
# `torchsummary` (2018) was the first tool of this kind and still appears in many
# tutorials. It takes the input size *without* the batch, and its `device` defaults to
# `"cuda"`: on a machine with a GPU it sends the input there even when your model is on
# the CPU, and the forward fails (without a GPU it quietly falls back to the CPU, so the
# bug hides until the code meets a GPU). Pass `device="cpu"`, or move the model first.

# %%
from torchsummary import summary as legacy_summary

legacy_summary(net, (3, 64, 64), device="cpu")
torchinfo_count = summary(net, input_size=(1, 3, 64, 64), verbose=0).total_params
print(f"torchinfo counts {torchinfo_count:,} parameters")

# %% [markdown]
# torchsummary misses the 32 `scale` parameters: it only counts attributes named `weight`
# and `bias` of submodules. Other differences, all reasons it gave way to torchinfo
# (formerly `torch-summary`):
#
# - its "MB" are MiB (2²⁰ bytes): resnet18's 46,758,048 parameter bytes show as
#   44.59 "MB" there and 46.76 MB in torchinfo;
# - no mult-adds, no nesting (`depth`), no column choice, batch always printed as -1;
# - layers with several outputs or parameters under other names break it:

# %%
try:
    legacy_summary(nn.LSTM(8, 16, batch_first=True), (5, 8), device="cpu")
except Exception as err:
    print(f"torchsummary on an LSTM: {type(err).__name__}: {err}")
_ = summary(nn.LSTM(8, 16, batch_first=True), input_size=(2, 5, 8), verbose=1)

# %% [markdown]
# ## 6. vgg16 at batch 250, for free: the meta device
#
# Source post 002 (torchsummary and torchinfo, Visdom, Netron) summarises `vgg16` for a
# batch of 250 images with `summary(vgg, (250, 3, 224, 224))`. On the course's reference
# machine (2 CPUs) that forward pass takes about 65 s and 10 GB of memory — for a table
# whose numbers depend only on shapes. Tensors on PyTorch's **meta device** have a shape
# and a dtype but no data: operations on them compute output shapes and nothing else.
#
# **The trap.** `summary(..., device="meta")` calls `model.to("meta")` on *your* model: the
# weights are gone for good.

# %%
victim = resnet18(weights=None)
_ = summary(victim, input_size=(2, 3, 224, 224), device="meta", verbose=0)
print("after summary(device='meta'):", victim.fc.weight.device, "— data lost")
try:
    victim(torch.randn(1, 3, 224, 224))
except Exception as err:
    print(f"forward on the CPU now fails: {type(err).__name__}")

# %% [markdown]
# **Build on meta** when you have the constructor: under `with torch.device("meta")` the
# layers are created on meta (no memory, no random init). Give torchinfo a meta input
# through `input_data`: with `input_size` it would first fill a 150 MB random tensor on
# the CPU.

# %%
t0 = time.perf_counter()
with torch.device("meta"):
    vgg_meta = vgg16(weights=None)
    batch_250 = torch.empty(250, 3, 224, 224)  # on meta too: no memory
vgg_stats = summary(vgg_meta, input_data=batch_250, device="meta", depth=1, verbose=1)
print(f"(built and summarised on meta in {time.perf_counter() - t0:.2f} s)")
per_image = vgg_stats.total_mult_adds / 250 / 1e9
print(f"vgg16: {vgg_stats.total_params:,} parameters, {per_image:.2f} G mult-adds per image")

# %% [markdown]
# **Where the parameters are, and where the work is.** Every row of the table carries both
# numbers (`summary_list` holds one `LayerInfo` per module). For vgg16 they tell opposite
# stories: the first fully connected layer holds most of the weights, the convolutions do
# almost all of the arithmetic.

# %%
names = {id(m): n for n, m in vgg_meta.named_modules()}
rows = [layer for layer in vgg_stats.summary_list if layer.is_leaf_layer and layer.num_params]
labels = [names[id(layer.module)] for layer in rows]
params = [layer.num_params / 1e6 for layer in rows]
macs = [layer.macs / 250 / 1e9 for layer in rows]  # per image
fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
axes[0].barh(labels, params, color="tab:orange")
axes[0].set(xlabel="parameters (millions)", title="vgg16: parameters per layer")
axes[1].barh(labels, macs, color="tab:blue")
axes[1].set(xlabel="mult-adds per image (G)", title="vgg16: compute per layer")
axes[0].invert_yaxis()
show_figure(
    fig,
    name="vgg16_params_vs_compute",
    out_dir=OUT,
    caption="vgg16 per layer, from one summary on the meta device: classifier.0 holds "
    "most of the parameters (left), the convolutions do almost all of the "
    "mult-adds (right).",
    alt="Two horizontal bar charts sharing the layer names of vgg16: parameter counts "
    "dominated by one long bar at classifier.0, and mult-adds per image spread "
    "over the features convolutions with tiny bars for the classifier.",
)
fc = labels.index("classifier.0")
print(f"classifier.0: {params[fc] / sum(params):.0%} of the parameters, ", end="")
print(f"{macs[fc] / sum(macs):.2%} of the mult-adds")

# %% [markdown]
# **A twin of an existing model** when you only have the object (trained weights you must
# keep): `copy.deepcopy` looks every object up in its `memo` dict before copying it, so
# handing it a meta tensor for each parameter and buffer copies the structure and no data.
# `lessonlib.summaries.meta_copy` does exactly that; `summary_on_meta(model, input_size)`
# wraps the whole recipe.

# %%
from lessonlib.summaries import meta_copy

keeper = resnet  # the model from section 2, weights and all
before = keeper.fc.weight.clone()
twin = meta_copy(keeper)
_ = summary(twin, input_data=batch_250, device="meta", verbose=0)
print(f"twin on {twin.fc.weight.device}, original on {keeper.fc.weight.device}, ", end="")
print(f"original unchanged: {torch.equal(before, keeper.fc.weight)}")

# %% [markdown]
# Compare with post 002's table, made with an older torchinfo: same 138,357,544 parameters, but
# "Params size (MB): 527.79" there versus 553.43 here — the old release divided by 2²⁰,
# 1.8.0 divides by 10⁶ — and "Total mult-adds (G): 15.61" there versus 3.87 T for the
# batch (15.48 G per image) here: counting rules moved between releases. Write down the
# tool's version next to any figure you publish.
#
# ## 7. When the forward pass fails
#
# Ask for a 1-channel input and torchinfo reports `Failed to run torchinfo. See above
# stack traces…` on top of a long chained traceback. Forward hooks can do better: a
# pre-hook on every module pushes it on a stack, a forward hook pops it; when the forward
# raises, the top of the stack is the layer that failed, with the shapes it received.

# %%
from lessonlib.summaries import ForwardFailed, explain_forward_failure, summary_on_meta

try:
    summary(meta_copy(keeper), input_data=batch_250[:, :1], device="meta")
except RuntimeError as err:
    print("torchinfo says:", str(err)[:100], "…")
print(explain_forward_failure(keeper, (250, 1, 224, 224)))

# %% [markdown]
# `summary_on_meta` raises the same sentence as a `ForwardFailed` error. vgg16 ends its
# features with an `AdaptiveAvgPool2d((7, 7))`, so it accepts any image from 32x32 up; its
# five 2x2 max-pools cannot shrink a 16x16 image five times:

# %%
try:
    summary_on_meta(vgg16, (250, 3, 16, 16), verbose=0)
except ForwardFailed as err:
    print(err)

# %% [markdown]
# ## 8. A summary as text
#
# `str(stats)` is the table. Keep it next to your checkpoints and logs; lesson 04 writes it
# to TensorBoard's text tab, which renders Markdown — indent it by four spaces so that it
# shows as a code block.

# %%
text = str(stats)  # resnet18's table, saved in section 2
(OUT / "vgg16_b250_summary.txt").write_text(str(vgg_stats), encoding="utf-8")
markdown = "\n".join("    " + line for line in text.splitlines())
print("\n".join(markdown.splitlines()[-6:]))
print("written:", sorted(p.name for p in OUT.glob("*.txt")))

# %% [markdown]
# ## What to try
#
# - Add `"mult_adds"` to the columns for `tuned` and find the most expensive layer.
# - Summarise resnet18 at batch 1 and at batch 64: which totals scale with the batch?
# - Break `TinyNet` (make the head `nn.Linear(16, 5)`) and call `explain_forward_failure`.
# - Now do the exercises: `lessonlib check 03`, and `lessonlib hint 03.1` when stuck.
