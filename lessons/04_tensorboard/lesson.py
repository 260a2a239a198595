# %% [markdown]
# # Lesson 04 — TensorBoard, every dashboard
#
# `torch.utils.tensorboard.SummaryWriter` writes **event files**; the TensorBoard server
# reads them and draws one dashboard per kind of record. You will write every kind —
# scalars, images, figures, histograms, the graph, embeddings, hparams, custom scalars,
# text, audio, PR curves, profiler traces — mostly from a small CNN trained on the
# course's shapes; then log a 2-process DDP job and an Optuna study, and finally look at
# a real TensorBoard serving the results.
#
# Run it with `lessonlib run 04` (under a minute on 2 CPUs); everything lands in
# `build/04/`. Browse the runs yourself afterwards with `lessonlib tensorboard 04`.

# %%
import contextlib
import io
import itertools
import os
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import quote

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.tensorboard import SummaryWriter
from torchvision.utils import make_grid

from lessonlib.data import SHAPE_CLASSES, SHAPES_MEAN, SHAPES_STD, digits_splits, shapes_splits
from lessonlib.figures import show_figure
from lessonlib.models import SmallCNN, TinyMLP, device, train_classifier
from lessonlib.paths import build_dir, project_root
from lessonlib.plotting import gray_to_rgb, inverse_normalize_uint8
from lessonlib.tensorboard import (
    Trainer,
    check_event_file,
    event_files,
    free_port,
    read_scalars,
    screenshot_dashboards,
    start_tensorboard,
)

warnings.filterwarnings("ignore", category=FutureWarning)  # add_graph's jit.trace is deprecated
torch.manual_seed(0)
torch.set_num_threads(1)  # tiny models: one thread each, no fight over 2 shared CPUs
OUT = build_dir("04")
RUNS = OUT / "runs"
shutil.rmtree(RUNS, ignore_errors=True)  # every run of the lesson starts from clean logs
os.chdir(OUT)

# %% [markdown]
# **A job in the background.** Section 12 is about a data-parallel (DDP) job of two
# processes. Each needs seconds just to import torch, so we start it now and read its
# logs later. `torchrun --standalone --nproc-per-node 2 ddp_rank0.py DIR` is the usual
# launch; here we start the two ranks ourselves, with the environment torchrun would set
# and a free port each time.

# %%
ddp_script = project_root() / "lessons" / "04_tensorboard" / "ddp_rank0.py"
env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), WORLD_SIZE="2")
env["OMP_NUM_THREADS"] = "1"
ranks = [
    subprocess.Popen([sys.executable, ddp_script, RUNS], env=dict(env, RANK=str(r))) for r in (0, 1)
]

# %% [markdown]
# ## 1. Writers and run directories
#
# One `SummaryWriter(log_dir)` = one **run** = one folder; TensorBoard lists every folder
# holding event files below the directory it is given, so keep one folder per experiment
# (`runs/cnn`, `runs/hparams/lr0.003_h16`, …). Without `log_dir` the writer invents
# `runs/<date>_<host><comment>`. Records wait in a queue (`max_queue` of them) for a
# background thread that appends them to the file; `flush()` empties the queue now,
# `close()` (or a `with` block) for good. A job killed before that loses the queue.

# %%
auto = SummaryWriter(comment="_lr0.1")
print(
    "default run folder:",
    os.path.relpath(auto.log_dir, OUT).replace(socket.gethostname(), "<host>"),
)
auto.close()
shutil.rmtree(auto.log_dir)

lazy = SummaryWriter(RUNS / "basics", max_queue=1000, flush_secs=120)
for step in range(1000):
    lazy.add_scalar("demo/sine", np.sin(step / 50), step)
(path,) = event_files(RUNS / "basics")
print("records on disk before flush():", check_event_file(path).records)
lazy.flush()
print("records on disk after flush(): ", check_event_file(path).records)
lazy.close()

# %% [markdown]
# ## 2. Scalars at an interval, train vs val, and a NaN alarm
#
# `add_scalar(tag, value, step)` adds one point; a `/` in the tag groups charts
# (`train/loss`, `train/accuracy`). `add_scalars(main_tag, {"train": a, "val": b}, epoch)`
# draws several curves on one chart — through one sub-run per key (`cnn/loss_train`,
# `cnn/loss_val`). The library's small `Trainer` logs the mean of each **interval** of
# `log_every` steps rather than every step: fewer records, and no `.item()` (a device
# sync on a GPU) per step. Its core:
#
# ```python
# writer.add_scalar("train/loss", losses.mean().item(), step)   # every log_every steps
# writer.add_scalars("loss", {"train": train_loss, "val": val_loss}, epoch)
# writer.add_histogram(f"weights/{name}", param, epoch)          # and grads/{name}
# ```

# %%
train, test = shapes_splits(n_train=1500, n_test=300, size=48)
mean, std = torch.tensor(SHAPES_MEAN).view(1, 3, 1, 1), torch.tensor(SHAPES_STD).view(1, 3, 1, 1)
x_train, y_train = (train.images - mean) / std, train.labels
x_test, y_test = (test.images - mean) / std, test.labels
loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True)

cnn = SmallCNN()
writer = SummaryWriter(RUNS / "cnn")  # stays open until section 8
trainer = Trainer(cnn, torch.optim.Adam(cnn.parameters(), lr=3e-3), writer, log_every=10)
EPOCHS = 4
history = trainer.fit(loader, EPOCHS, val=(x_test, y_test))
print({k: [round(v, 3) for v in values] for k, values in history.items()})
server = start_tensorboard(RUNS / "cnn", wait=False)  # a real TensorBoard, used in section 13

# %% [markdown]
# A NaN loss does not stop PyTorch, and TensorBoard plots whatever it is given. The
# `Trainer` checks each interval and warns with the step instead of plotting — here one
# poisoned input (a NaN pixel) reaches the model at step 4. After that update the weights
# themselves are NaN, so every later interval warns too.

# %%
poisoned = x_train[:256].clone()
poisoned[100, 0, 0, 0] = float("nan")
bad_loader = DataLoader(TensorDataset(poisoned, y_train[:256]), batch_size=32)
with SummaryWriter(RUNS / "nan_demo") as w, warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    bad = SmallCNN()
    Trainer(bad, torch.optim.SGD(bad.parameters(), lr=0.1), w, log_every=2).fit(bad_loader, 1)
print(f"{len(caught)} warnings; the first: {caught[0].message}")

# %% [markdown]
# ### The learning rate of a scheduler, step by step
#
# A scheduler changes the learning rate as training goes. Log the rate at every step and
# its shape sits in the Scalars dashboard next to the loss, so a loss that stalls can be
# read against the rate that drove it. `scheduler.get_last_lr()` returns the rate of each
# parameter group that the *next* `optimizer.step()` uses: log it before stepping. Below:
# a `TinyMLP` on digits for 3 epochs, `CosineAnnealingLR` stepped once per batch.
#
# The model and each batch go to `device()` once: `"cuda"` when
# `torch.cuda.is_available()`, else `"cpu"`. The same code then runs on either machine.

# %%
from torch.optim.lr_scheduler import CosineAnnealingLR

dev = device()  # torch.device("cuda" if torch.cuda.is_available() else "cpu")
digits_train, digits_test = digits_splits(flat=True)
batches = list(DataLoader(digits_train, batch_size=64, shuffle=True))
mlp = TinyMLP(64, 32).to(dev)
sgd = torch.optim.SGD(mlp.parameters(), lr=0.1, momentum=0.9)
cosine = CosineAnnealingLR(sgd, T_max=3 * len(batches))
with SummaryWriter(RUNS / "lr_schedule") as w:
    for step in range(3 * len(batches)):
        x, y = (t.to(dev) for t in batches[step % len(batches)])
        w.add_scalar("train/lr", cosine.get_last_lr()[0], step)  # the rate this step uses
        loss = nn.functional.cross_entropy(mlp(x), y)
        sgd.zero_grad()
        loss.backward()
        sgd.step()
        cosine.step()
        w.add_scalar("train/loss", loss.item(), step)
logged = read_scalars(RUNS / "lr_schedule").pivot(index="step", columns="tag", values="value")
print(logged.iloc[[0, 1, len(logged) // 2, -1]].round(4))

# %% [markdown]
# <div class="admonition warning">
# <p class="admonition-title">If you come from the posts</p>
#
# Post 003 (*27. TensorBoard 시각화*, section 3.3) logs the rate once per epoch, *after*
# `scheduler.step()`: `writer.add_scalar('Learning_Rate', scheduler.get_last_lr()[0], epoch)`.
# By then the scheduler has moved on, so the point at epoch *e* is the rate of epoch *e + 1*:
# the first epoch's rate never appears, and the curve reaches zero one epoch early. Its loop,
# run below with a 3-epoch cosine, next to the rates the three epochs really trained with.
#
# </div>

# %%
post_opt = torch.optim.SGD(TinyMLP(64, 32).parameters(), lr=0.1)
post_sched = CosineAnnealingLR(post_opt, T_max=3)  # post 003: stepped once per epoch
used = []
with SummaryWriter(RUNS / "lr_post003") as w:
    for epoch in range(3):
        used.append(post_sched.get_last_lr()[0])  # the rate this epoch trains with
        post_opt.step()  # train_one_epoch() would go here
        post_sched.step()
        w.add_scalar("Learning_Rate", post_sched.get_last_lr()[0], epoch)  # the post's line
logged_by_post = read_scalars(RUNS / "lr_post003").value.round(4).tolist()
print("rate each epoch trained with:", [round(v, 4) for v in used])
print("what post 003 logs per epoch:", logged_by_post)

fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot(logged.index, logged["train/lr"], label="train/lr, logged before each step")
ax.set(xlabel="step", ylabel="learning rate", title="CosineAnnealingLR, read back from the run")
ax2 = ax.twinx()
ax2.plot(logged.index, logged["train/loss"], color="tab:orange", lw=0.8, alpha=0.7)
ax2.set_ylabel("train/loss", color="tab:orange")
ax.legend(loc="upper right")
show_figure(
    fig,
    name="lr_schedule",
    out_dir=OUT,
    caption="The learning rate logged as train/lr before each optimizer step, read "
    "back from the event file: the cosine schedule's shape, with the training "
    "loss on the right axis.",
    alt="A line chart over training steps: a learning-rate curve falling along a "
    "cosine from its start value towards zero, and a thinner orange loss curve "
    "falling on a second axis.",
)

# %% [markdown]
# ## 3. Images: make_grid, un-normalizing, grayscale
#
# `add_image` wants one CHW image with values in [0, 1]: tile a batch with `make_grid`
# and **undo the normalization first**, or the picture is mud. One-channel images work
# too (`make_grid` repeats the channel three times; `add_images` takes an NCHW batch).
# Logging one tag every epoch gives the Images dashboard a step slider — here a tiny
# autoencoder's reconstructions of sklearn digits, epoch by epoch.

# %%
writer.add_image("inputs/test_batch", make_grid(x_test[:32] * std + mean, nrow=8), 0)

digits_train, digits_test = digits_splits(flat=True)
xd, yd = digits_train.images, digits_train.labels
ae = nn.Sequential(nn.Linear(64, 12), nn.ReLU(), nn.Linear(12, 64), nn.Sigmoid())
opt = torch.optim.Adam(ae.parameters(), lr=1e-2)
probe = digits_test.images[:16].view(-1, 1, 8, 8)
rows = [probe]
with SummaryWriter(RUNS / "autoencoder") as w:
    w.add_image("digits/originals", make_grid(probe, nrow=8, pad_value=1), 0)
    for epoch in range(1, 21):
        for i in range(0, len(xd), 128):
            loss = nn.functional.mse_loss(ae(xd[i : i + 128]), xd[i : i + 128])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            recon = ae(probe.flatten(1)).view(-1, 1, 8, 8)
        w.add_images("digits/reconstructions", recon, epoch)
        if epoch in (1, 4, 20):
            rows.append(recon)

fig, ax = plt.subplots(figsize=(8, 2.4))
ax.imshow(make_grid(torch.cat(rows), nrow=16, pad_value=1).permute(1, 2, 0))
ax.set(xticks=[], yticks=[9 * i + 5 for i in range(4)], title="reconstructions, epoch by epoch")
ax.set_yticklabels(["input", "epoch 1", "epoch 4", "epoch 20"])
show_figure(
    fig,
    name="autoencoder_epochs",
    out_dir=OUT,
    caption="What the Images dashboard's step slider shows for "
    "digits/reconstructions: the inputs, then the autoencoder's "
    "reconstructions after epochs 1, 4 and 20.",
    alt="Four rows of 16 small gray digits: the originals on top, then blurry blobs "
    "at epoch 1, rough digits at epoch 4 and sharp digits at epoch 20.",
)

# %% [markdown]
# <div class="admonition warning">
# <p class="admonition-title">If you come from the posts</p>
#
# Post 002 (*Pytorch의 시각화 및 학습 현황 확인*, its TensorBoard part) undoes a `Normalize`
# given in 0–255 units with a helper `rgb_inverse_normalize` that ends in
# `rgb.type(torch.uint8)` and returns `rgb`, then calls `grayscale_3ch(x, mean, std)`.
# `.type()` and `.to()` return a *new* tensor, so the cast is thrown away and the image stays
# float32; and `grayscale_3ch` takes one argument. Both, as published, on one test image:
#
# </div>


# %%
def rgb_inverse_normalize(x, mean, std):  # post 002, as published
    rgb = x.clone()
    for i in range(3):
        rgb[i] *= std[i]
    for i in range(3):
        rgb[i] += mean[i]
    rgb.type(torch.uint8)
    return rgb


def grayscale_3ch(x):  # post 002, as published
    return x.unsqueeze(0).expand(3, -1, -1)


mean255, std255 = [255 * m for m in SHAPES_MEAN], [255 * s for s in SHAPES_STD]
published = rgb_inverse_normalize(x_test[0], mean255, std255)
low, high = published.min().item(), published.max().item()
print(f"post 002's helper returns {published.dtype}, values {low:.2f} … {high:.2f}")
try:
    grayscale_3ch(x_test[0, 0], mean255[0], std255[0])
except TypeError as err:
    print(f"{type(err).__name__}: {err}")

# %% [markdown]
# The fix keeps what the cast returns, after rounding and clipping (a bare cast truncates
# 154.9 to 154 and wraps 256 to 0): `(x * std + mean).round().clamp(0, 255).to(torch.uint8)`.
# That is `lessonlib.plotting.inverse_normalize_uint8`; a grayscale channel goes through it
# with its own mean and std, and `gray_to_rgb` then repeats it three times. `add_image`
# takes uint8 images as they are (0–255), float images as 0–1.

# %%
fixed = inverse_normalize_uint8(x_test[0], mean255, std255)
gray = gray_to_rgb(inverse_normalize_uint8(x_test[0, 0], mean255[:1], std255[:1]))
print(f"fixed: {fixed.dtype}, values {fixed.min()} … {fixed.max()}; grayscale: {tuple(gray.shape)}")
writer.add_image("inputs/uint8", fixed, 0)
writer.add_image("inputs/gray_3ch", gray, 0)

# %% [markdown]
# ### A generator's samples, epoch by epoch
#
# A generative model is judged by eye: log a grid of its samples every epoch, drawn from
# the **same** fixed noise, and the step slider of the Images dashboard plays its training
# back. Here a tiny GAN (two small MLPs) learns the 16×16 silhouettes of the shapes (their
# masks) for 5 epochs, a couple of seconds.

# %%
masks16 = torch.from_numpy(shapes_splits(n_train=1500, n_test=300, size=16)[0].masks)
real_all = masks16.flatten(1).float() * 2 - 1  # 256 values in [-1, 1], like G's tanh
Z = 16
G = nn.Sequential(nn.Linear(Z, 128), nn.ReLU(), nn.Linear(128, 256), nn.Tanh())
D = nn.Sequential(nn.Linear(256, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1))

# %% [markdown]
# <div class="admonition warning">
# <p class="admonition-title">If you come from the posts</p>
#
# Post 003's `GANTrainer.log_generated_images` (section 4.2) moves its noise with
# `self.fixed_noise.to(self.G.device)`, calls `torchvision.utils.make_grid` in a file that
# never imports `torchvision`, and its `Trainer` classes default to `device='cuda'`. A module
# has no `.device` (its parameters do), and on a machine without a GPU `.to("cuda")` fails:
#
# </div>

# %%
try:
    print(G.device)
except AttributeError as err:
    print(f"{type(err).__name__}: {err}")
try:
    print(torchvision.utils.make_grid)  # noqa: F821 (we import make_grid, not torchvision)
except NameError as err:
    print(f"{type(err).__name__}: {err}")
if torch.cuda.is_available():
    print("this machine has a GPU: device='cuda' works here, and fails on a CPU-only one")
else:
    try:
        nn.Linear(2, 2).to("cuda")
    except RuntimeError as err:
        print(f"{type(err).__name__}: {str(err).split('. ')[0]}.")

# %% [markdown]
# The device-agnostic way: pick the device once, move the models and the fixed noise there
# once, and create every new tensor on it (`device=dev`). Where only a module is at hand,
# `next(module.parameters()).device` says where it lives.

# %%
dev = device()  # torch.device("cuda" if torch.cuda.is_available() else "cpu")
G, D, real_all = G.to(dev), D.to(dev), real_all.to(dev)
fixed_noise = torch.randn(32, Z, device=dev)  # the same 32 points every epoch
opt_g = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
bce = nn.functional.binary_cross_entropy_with_logits
sample_rows = []
with SummaryWriter(RUNS / "gan") as w:
    for epoch in range(1, 6):
        order = torch.randperm(len(real_all), device=dev)
        for i in range(0, len(real_all), 32):
            real = real_all[order[i : i + 32]]
            ones = torch.ones(len(real), 1, device=dev)
            zeros = torch.zeros(len(real), 1, device=dev)
            fake = G(torch.randn(len(real), Z, device=dev))
            loss_d = bce(D(real), ones) + bce(D(fake.detach()), zeros)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = bce(D(fake), ones)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
        with torch.no_grad():
            samples = (G(fixed_noise).view(-1, 1, 16, 16) + 1) / 2  # images in [0, 1]
        w.add_image("generated/samples", make_grid(samples, nrow=16, pad_value=0.5), epoch)
        w.add_scalars("gan/loss", {"D": loss_d.item(), "G": loss_g.item()}, epoch)
        sample_rows.append(samples[:16].cpu())
print("generator lives on:", next(G.parameters()).device)
fig, ax = plt.subplots(figsize=(8, 3.4))
rows = torch.cat([*sample_rows, masks16[:16, None].float()])
ax.imshow(make_grid(rows, nrow=16, pad_value=0.5).permute(1, 2, 0))
ax.set(xticks=[], yticks=[18 * i + 10 for i in range(6)], title="generated/samples by epoch")
ax.set_yticklabels([f"epoch {e}" for e in range(1, 6)] + ["real masks"])
show_figure(
    fig,
    name="gan_samples",
    out_dir=OUT,
    caption="The tiny generator's samples from the same fixed noise, logged once per "
    "epoch as generated/samples, above real masks for comparison.",
    alt="Six rows of 16 small gray images: noisy blobs at epoch 1 that turn into "
    "shape-like masks by epoch 5, and a last row of real shape masks.",
)

# %% [markdown]
# ## 4. Figures: a confusion matrix with add_figure
#
# Anything matplotlib draws can be logged with `add_figure`: it renders the figure to an
# image and closes it (unless `close=False`). Later lessons log Grad-CAM overlays this way.

# %%
cnn.eval()
with torch.no_grad():
    logits = cnn(x_test)
pred = logits.argmax(1)
matrix = torch.zeros(5, 5, dtype=torch.int64).index_put_((y_test, pred), torch.tensor(1), True)
fig, ax = plt.subplots(figsize=(4.6, 4))
ax.imshow(matrix, cmap="Blues")
ax.set(xlabel="predicted", ylabel="true", title=f"accuracy {(pred == y_test).float().mean():.2f}")
ax.set_xticks(range(5), SHAPE_CLASSES, rotation=30), ax.set_yticks(range(5), SHAPE_CLASSES)
for (i, j), n in np.ndenumerate(matrix.numpy()):
    ax.text(j, i, n, ha="center", va="center", color="white" if n > matrix.max() / 2 else "black")
writer.add_figure("eval/confusion_matrix", fig, EPOCHS, close=False)
show_figure(
    fig,
    name="confusion_matrix",
    out_dir=OUT,
    caption="The confusion matrix logged with add_figure: rows are the true shape, "
    "columns the prediction; the diagonal holds the correct answers.",
    alt="A 5 by 5 blue matrix with counts, labelled circle, square, triangle, cross "
    "and diamond on both axes, darkest along the diagonal.",
)

# %% [markdown]
# ## 5. Histograms: weights, gradients, activations
#
# The `Trainer` logged `weights/<layer>` and `grads/<layer>` once per epoch (weight
# matrices and kernels; biases hold too few values to be worth a histogram): the
# Histograms dashboard stacks them over time, Distributions shows percentile bands. How
# to read gradients: if early layers' histograms shrink to a spike at 0 while late
# layers stay wide, gradients **vanish** on the way back; if they widen epoch after
# epoch (and the loss jumps), they **explode**. Below: one 9-layer MLP, sigmoid vs ReLU,
# one batch of digits — logged as two runs, and plotted here.

# %%
grad_norms = {}
for act in (nn.Sigmoid, nn.ReLU):
    torch.manual_seed(0)
    blocks = [m for _ in range(8) for m in (nn.Linear(64, 64), act())]
    deep = nn.Sequential(*blocks, nn.Linear(64, 10))
    nn.functional.cross_entropy(deep(xd[:256]), yd[:256]).backward()
    linears = [m for m in deep if isinstance(m, nn.Linear)]
    with SummaryWriter(RUNS / f"gradients_{act.__name__.lower()}") as w:
        for i, layer in enumerate(linears):
            w.add_histogram(f"grads/layer{i}", layer.weight.grad, 0)
    grad_norms[act.__name__] = [layer.weight.grad.norm().item() for layer in linears]

fig, ax = plt.subplots(figsize=(6, 3))
for name, norms in grad_norms.items():
    ax.semilogy(norms, "o-", label=name)
ax.set(xlabel="layer (0 = input side)", ylabel="‖grad of weight‖", title="vanishing gradients")
ax.legend()
show_figure(
    fig,
    name="gradient_norms",
    out_dir=OUT,
    caption="The norm of each layer's weight gradient in a 9-layer MLP, input side on "
    "the left: with sigmoid it shrinks by orders of magnitude towards the "
    "input (vanishing); with ReLU it stays level.",
    alt="A log-scale line chart over layers 0 to 8: the sigmoid line climbs steeply "
    "from tiny values at layer 0, the ReLU line stays nearly flat.",
)

# %% [markdown]
# **Activations** are not parameters: catch them with **forward hooks**, which see every
# module's output. A ReLU whose outputs are mostly zero is "dying". Hooks run on every
# call — register them for one evaluation pass, then remove them.

# %%
acts = {}
hooks = [
    m.register_forward_hook(lambda mod, inp, out, name=name: acts.__setitem__(name, out.detach()))
    for name, m in cnn.named_modules()
    if isinstance(m, nn.ReLU)
]
with torch.no_grad():
    cnn(x_test)
for h in hooks:
    h.remove()
for name, out in acts.items():
    zeros = (out == 0).float().mean().item()
    writer.add_histogram(f"activations/{name}", out, EPOCHS)
    writer.add_scalar(f"activations/{name}/zero_fraction", zeros, EPOCHS)
    print(f"{name:12s} mean {out.mean():.3f}  zeros {zeros:.0%}")

# %% [markdown]
# ## 6. The graph — and where tracing stops
#
# `add_graph(model, example_input)` traces one forward pass with `torch.jit.trace`; the
# Graphs dashboard draws the modules. Tracing only follows **tensors**: a dict output
# (or a batch dict holding anything but tensors) fails. The fix is a thin wrapper that
# takes and returns plain tensors (for dict outputs, `use_strict_trace=False` also works).

# %%
writer.add_graph(cnn, x_test[:2])


class DictModel(nn.Module):  # the kind of model the graph tracer refuses
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, batch):
        return {"logits": self.net(batch["image"])}


class TensorsOnly(nn.Module):  # the fix: tensors in, tensors out
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image):
        return self.model({"image": image})["logits"]


with SummaryWriter(RUNS / "graph_dict_model") as w, warnings.catch_warnings():
    warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the tracer's remarks on dicts
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints the error, then raises it
            w.add_graph(DictModel(cnn), {"image": x_test[:2]})
    except RuntimeError as err:
        print("→ add_graph refused the dict output:", str(err).split(",")[0])
    w.add_graph(TensorsOnly(DictModel(cnn)), x_test[:2])
    print("→ the wrapper traced fine")

# %% [markdown]
# <div class="admonition warning">
# <p class="admonition-title">If you come from the posts</p>
#
# Post 003 (*27. TensorBoard 시각화*, section 6.2) logs a transformer's graph with
# `writer.add_graph(vit_b_16(pretrained=False), torch.randn(1, 3, 224, 224))`. Today that
# fails, in train mode, after `eval()`, and with `use_strict_trace=False` alike. Below:
# torchvision's `vit_b_16` with random weights (`weights=None`; the post's `pretrained=` is
# deprecated), at 32×32 pixels so that it runs in seconds (224 fails the same way), in eval
# mode and with the non-strict tracer:
#
# </div>

# %%
from torchvision.models import vit_b_16

vit = vit_b_16(weights=None, image_size=32).eval()
tiny_image = torch.randn(1, 3, 32, 32)
with SummaryWriter(RUNS / "graph_vit_b_16") as w, warnings.catch_warnings():
    warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the tracer's own remarks
    try:
        w.add_graph(vit, tiny_image, use_strict_trace=False)
    except torch.jit.TracingCheckError as err:
        print(f"{type(err).__name__}: {str(err).splitlines()[0]}")
        print(str(err).splitlines()[1].strip())

# %% [markdown]
# Why: `add_graph` traces the model, then traces it again to check the result, and the
# check runs under `torch.no_grad()`. `nn.MultiheadAttention` in eval mode takes a fused
# fast path only when no gradient is recorded, so the two traces take different code and
# differ. Trace under `no_grad` yourself and both take the fast path:

# %%
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

with SummaryWriter(RUNS / "graph_vit_b_16") as w, torch.no_grad(), warnings.catch_warnings():
    warnings.simplefilter("ignore", torch.jit.TracerWarning)
    w.add_graph(vit, tiny_image)
graph_def = EventAccumulator(str(RUNS / "graph_vit_b_16")).Reload().Graph()  # read it back
ops = [node.op for node in graph_def.node]
fused = ops.count("aten::_native_multi_head_attention")
print(f"vit_b_16 graph: {len(ops)} nodes, among them {fused} fused attention ops")

# %% [markdown]
# The limit: this is the inference graph, and each attention block is one fused
# `_native_multi_head_attention` node, without its query, key and value projections or its
# softmax. To see inside one, trace that block's pieces with gradients on (the MLP block,
# `vit.encoder.layers[0].mlp`, traces fine), or draw the module graph with torchview
# (lesson 01), which does not use the tracer.

# %% [markdown]
# ## 7. Embeddings in the projector
#
# `add_embedding(features, metadata, label_img)` writes the vectors, one label per row
# and a **sprite** of thumbnails; the Projector dashboard shows PCA, t-SNE or UMAP of
# them, coloured by label. Here: the CNN's 32 pooled features of the 300 test shapes.

# %%
feats = {}
handle = cnn.classifier[1].register_forward_hook(lambda m, i, o: feats.__setitem__("x", o))
with torch.no_grad():
    cnn(x_test)
handle.remove()
labels = [SHAPE_CLASSES[k] for k in y_test]
writer.add_embedding(feats["x"], metadata=labels, label_img=x_test * std + mean, global_step=EPOCHS)

centred = feats["x"] - feats["x"].mean(0)
xy = centred @ torch.pca_lowrank(centred, q=2, center=False)[2]
fig, ax = plt.subplots(figsize=(5, 4))
for k, name in enumerate(SHAPE_CLASSES):
    ax.scatter(*xy[y_test == k].T, s=8, label=name)
ax.set_title("what the projector's PCA shows: learned features")
ax.legend(markerscale=2, fontsize=8)
show_figure(
    fig,
    name="embedding_pca",
    out_dir=OUT,
    caption="The CNN's pooled features of the 300 test shapes projected on their "
    "first two principal components, the view the Projector opens with: one "
    "cluster per class.",
    alt="A scatter plot of 300 points coloured by shape class, forming five mostly "
    "separate clusters.",
)

# %% [markdown]
# ## 8. Custom scalars, text, audio, PR curves
#
# `add_custom_scalars` stores a **layout**: charts that combine tags by regex across
# runs. `add_text` renders markdown (indent by four spaces to keep a table's columns).
# `add_audio` takes samples in [-1, 1]. `add_pr_curve(tag, labels, probabilities)` draws
# precision against recall — one curve per class, one-vs-rest.
#
# Post 003 loads its audio with `torchaudio.load`. torchaudio 2.11.1, the newest on the
# package index, installs beside our torch 2.14.1, but its `load` and `save` now go through
# TorchCodec, which needs FFmpeg's libraries; the course leaves both out and synthesizes the
# clip below with torch alone.

# %%
from torchinfo import summary

writer.add_custom_scalars({"Training": {
    "loss: interval means vs epochs": ["Multiline", ["train/loss", "^loss$"]],
    "accuracy": ["Multiline", ["train/accuracy", "^accuracy$"]],
}})  # fmt: skip
table = str(
    summary(cnn, input_size=(1, 3, 48, 48), verbose=0, col_names=["output_size", "num_params"])
)
writer.add_text("model/summary", "    " + table.replace("\n", "\n    "), 0)
t = torch.linspace(0, 1, 16000)
chirp = 0.5 * torch.sin(2 * torch.pi * (220 * t + 440 * t**2))  # 220 Hz rising to 1100 Hz
writer.add_audio("audio/chirp", chirp, 0, sample_rate=16000)
probs = logits.softmax(1)
for k, name in enumerate(SHAPE_CLASSES):
    writer.add_pr_curve(f"pr/{name}", y_test == k, probs[:, k], EPOCHS)
writer.close()
print(next(line for line in table.splitlines() if line.startswith("Total params")))

# %% [markdown]
# ## 9. Hyper-parameters: a grid with add_hparams
#
# One run per configuration; `add_hparams(hparams, metrics, run_name=".")` files the
# configuration and its final metrics in that run's folder (without `run_name` it makes
# a timestamped sub-folder). The HParams dashboard then shows a **table** (sort by a
# metric), **parallel coordinates** (one line per run, through each hyper-parameter's
# axis to the metric) and scatter plots. To compare the curves in code, read the runs
# back — here with the library's `read_scalars`, built on TensorBoard's own reader.

# %%
for lr, hidden in itertools.product([3e-3, 3e-2], [16, 64]):
    with SummaryWriter(RUNS / "hparams" / f"lr{lr}_h{hidden}") as w:
        log = lambda epoch, m: w.add_scalar("val/accuracy", m["val_acc"], epoch)  # noqa: E731
        result = train_classifier(
            TinyMLP(64, hidden), digits_train, digits_test, 4, lr, on_epoch=log
        )
        last = {k: v[-1] for k, v in result.history.items()}
        final = {"hparam/val_accuracy": last["val_acc"], "hparam/val_loss": last["val_loss"]}
        w.add_hparams({"lr": lr, "hidden": hidden}, final, run_name=".")
curves = read_scalars(RUNS / "hparams").query("tag == 'val/accuracy'")
print(curves.pivot(index="step", columns="run", values="value").round(3))

# %% [markdown]
# ## 10. An Optuna study, trial by trial
#
# optuna-integration's `TensorBoardCallback` needs TensorFlow; logging each trial
# yourself takes three lines: a writer per trial, its curve, and `add_hparams` with the
# sampled parameters. The HParams dashboard then doubles as the study's history.
#
# <div class="admonition warning">
# <p class="admonition-title">If you come from the posts</p>
#
# Post 003 (section 8.2) imports `from optuna.integration import TensorBoardCallback`.
# The integrations have moved out of optuna into the separate `optuna-integration` package,
# whose TensorBoard callback also needs TensorFlow; with optuna alone the import fails:
#
# </div>

# %%
with warnings.catch_warnings():  # its tqdm import asks for Jupyter widgets it does not use
    warnings.filterwarnings("ignore", message="IProgress not found")
    import optuna

try:
    from optuna.integration import TensorBoardCallback  # noqa: F401 (post 003)
except ImportError as err:
    print(f"{type(err).__name__}: {str(err).strip().splitlines()[0]}")
optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(trial):
    lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
    hidden = trial.suggest_categorical("hidden", [8, 16, 32, 64])
    with SummaryWriter(RUNS / "optuna" / f"trial_{trial.number:02d}") as w:
        log = lambda epoch, m: w.add_scalar("val/accuracy", m["val_acc"], epoch)  # noqa: E731
        result = train_classifier(
            TinyMLP(64, hidden), digits_train, digits_test, 3, lr, on_epoch=log
        )
        w.add_hparams(trial.params, {"hparam/val_accuracy": result.test_accuracy}, run_name=".")
    return result.test_accuracy


study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
study.optimize(objective, n_trials=8)
print(f"best of {len(study.trials)} trials: {study.best_params}, accuracy {study.best_value:.3f}")

# %% [markdown]
# ## 11. The profiler
#
# `torch.profiler.profile` with a `schedule` skips `wait` steps, warms up, records
# `active` steps and hands each recorded window to `on_trace_ready`;
# `tensorboard_trace_handler(dir)` saves it as `*.pt.trace.json`. TensorBoard's profiler
# page (the `torch-tb-profiler` plugin) loads its viewer from the internet, so offline
# open the trace file itself in `chrome://tracing` or Perfetto. The `key_averages()`
# table needs nothing at all; `profile_memory=True` adds the memory columns. It is wide
# (a dozen columns): below are its top rows by self CPU time, with the columns that answer
# "where does the time go"; the whole table is saved as `build/04/profiler_table.txt`.
# With `profile_memory=True` PyTorch warns once that "memory block of unknown size was
# allocated before the profiling started": tensors made before the window opened (the
# model, the optimizer's state) were freed inside it, and those frees are left out of the
# memory columns.

# %%
from torch.profiler import ProfilerActivity, profile, schedule, tensorboard_trace_handler

# Kineto, the profiler's C++ engine, logs its own stages to stderr (and, on a machine without
# a GPU, "gpuGetDeviceCount failed"): nothing about your model, so keep it quiet.
os.environ.setdefault("KINETO_LOG_LEVEL", "6")
prof_model, batches = SmallCNN(), iter(loader)
prof_opt = torch.optim.Adam(prof_model.parameters())
with profile(
    activities=[ProfilerActivity.CPU], schedule=schedule(wait=1, warmup=1, active=2),
    on_trace_ready=tensorboard_trace_handler(str(RUNS / "profiler")), profile_memory=True,
) as prof:  # fmt: skip
    for _ in range(4):
        x, y = next(batches)
        loss = nn.functional.cross_entropy(prof_model(x), y)
        prof_opt.zero_grad()
        loss.backward()
        prof_opt.step()
        prof.step()
averages = prof.key_averages()
(OUT / "profiler_table.txt").write_text(averages.table(sort_by="self_cpu_time_total"))
print(f"{'operator':<32}{'self CPU ms':>12}{'CPU total ms':>14}{'calls':>7}{'self mem KB':>13}")
for event in sorted(averages, key=lambda e: -e.self_cpu_time_total)[:8]:
    print(
        f"{event.key[:31]:<32}{event.self_cpu_time_total / 1e3:>12.2f}"
        f"{event.cpu_time_total / 1e3:>14.2f}{event.count:>7}"
        f"{event.self_cpu_memory_usage / 1024:>13.0f}"
    )
print(f"… {len(averages) - 8} more operators in build/04/profiler_table.txt")
traces = list((RUNS / "profiler").glob("*.pt.trace.json"))  # named <host>_<pid>.<time>
print(f"{len(traces)} trace file in build/04/runs/profiler/, {traces[0].stat().st_size:,} bytes")

# %% [markdown]
# ## 12. Two processes, one writer
#
# In data-parallel training every process runs the same script. If each opens a
# `SummaryWriter`, one run gets several event files whose curves interleave — a zig-zag
# of per-process losses. The rule: **only rank 0 writes**, after averaging the loss with
# `dist.all_reduce` (which every rank must call). `ddp_rank0.py`, started at the top,
# does it right and, for contrast, wrong:

# %%
print(ddp_script.read_text().split('"""\n', 1)[1].strip())
assert all(p.wait(timeout=300) == 0 for p in ranks), "a DDP rank failed"

# %%
good, careless = read_scalars(RUNS / "ddp"), read_scalars(RUNS / "ddp_every_rank")
for name, frame in (("rank 0 only", good), ("every rank", careless)):
    n_files = len(event_files(RUNS / ("ddp" if frame is good else "ddp_every_rank")))
    print(f"{name:12s}: {n_files} event file(s), {frame.step.nunique()} steps, {len(frame)} points")
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(careless.step, careless.value, lw=0.8, color="tab:red", label="every rank writes (one run)")
ax.plot(good.step, good.value, lw=2, label="rank 0 writes the all-reduced mean")
ax.set(xlabel="step", ylabel="train/loss")
ax.legend()
show_figure(
    fig,
    name="ddp_writers",
    out_dir=OUT,
    caption="train/loss from the two-process DDP job: when every rank writes into one "
    "run the curve zig-zags between the ranks' losses (red); when only rank 0 "
    "writes the all-reduced mean, one smooth curve.",
    alt="A line chart over steps: a jagged thin red line alternating between two "
    "values and a thicker smooth blue line through their middle.",
)

# %% [markdown]
# ## 13. A real TensorBoard
#
# The server started in section 2 with the library's `start_tensorboard` runs
# `tensorboard --logdir build/04/runs/cnn --port …` on a free port and re-reads the
# folder every 2 s (`lessonlib tensorboard 04` does the same from a shell). Its HTTP data
# API serves exactly what the event files hold. Headless chromium then photographs each
# dashboard this lesson wrote to, cropped to its charts: Scalars once its lines are drawn,
# then Images, Histograms, Graphs, Projector, PR curves, Custom scalars and Text from the
# same server, and HParams from a second one started on `runs/hparams` (a server shows the
# runs below its `--logdir`, and the grid lives there). Then both servers are stopped.

# %%
hp_server = start_tensorboard(RUNS / "hparams", free_port(server.port + 1), wait=False)
tags = lambda pattern: "&tagFilter=" + quote(pattern)  # noqa: E731
PAGE_WIDTH = 1100  # a narrower window: two charts a row, legible at page width
with server.wait_until_ready(), hp_server.wait_until_ready():
    logged = read_scalars(RUNS / "cnn").query("run == '.' and tag == 'train/loss'")
    served = server.wait_for_scalars(".", "train/loss", len(logged))
    print(f"{server.url}data/plugin/scalars/scalars?run=.&tag=train/loss: {len(served)} points,")
    print("  the same as in the event file:", np.allclose([v for *_, v in served], logged.value))
    charts = tags("^(train/loss|train/accuracy|loss|accuracy)$") + "&_smoothingWeight=0"
    shots = screenshot_dashboards(server.url, [  # one browser, a tab per server
        ("scalars", OUT / "tensorboard_scalars.png", charts),
        ("images", OUT / "tensorboard_images.png", tags("^(inputs/test_batch|eval/)")),
        ("histograms", OUT / "tensorboard_histograms.png", tags("^weights/")),
        ("graphs", OUT / "tensorboard_graphs.png", ""),
        ("projector", OUT / "tensorboard_projector.png", ""),
        ("pr_curves", OUT / "tensorboard_pr_curves.png", ""),
        ("custom_scalars", OUT / "tensorboard_custom_scalars.png", ""),
        ("text", OUT / "tensorboard_text.png", ""),
        ("hparams", OUT / "tensorboard_hparams.png", "", hp_server.url),
    ], width=PAGE_WIDTH, min_lines=4)  # fmt: skip
scalars = shots[0]
print(f"scalars: {scalars['cards']} charts, {scalars['lines']} lines drawn")
print(f"{len(shots)} dashboards photographed; servers stopped: {not server.alive}, "
      f"{not hp_server.alive}")  # fmt: skip

# %% [markdown]
# The pictures, in the order the lesson wrote the data. Click one to see it at full size.

# %%
DASHBOARDS = {
    "scalars": (
        "The Scalars dashboard (section 2): train/loss and train/accuracy as interval means "
        "next to the per-epoch loss and accuracy charts with their train and val sub-runs.",
        "TensorBoard Scalars dashboard: four line charts, loss falling and accuracy rising "
        "over steps, the epoch charts with two coloured curves each.",
    ),
    "images": (
        "The Images dashboard (sections 3 and 4): the un-normalized test batch from "
        "add_image and the confusion matrix from add_figure, each with its step.",
        "TensorBoard Images dashboard: a confusion-matrix picture and a grid of 32 coloured "
        "shape images, each card titled with its tag and step.",
    ),
    "histograms": (
        "The Histograms dashboard (section 5): the weights of each conv and linear layer, "
        "one ridge per epoch, the oldest at the back.",
        "TensorBoard Histograms dashboard: four stacked ridge plots in orange shades for the "
        "weights of features.0, features.4, features.8 and classifier.2.",
    ),
    "graphs": (
        "The Graphs dashboard (section 6): add_graph's trace of the small CNN; double-click "
        "the SmallCNN box in TensorBoard to open its modules.",
        "TensorBoard Graphs dashboard: the main graph as three boxes, input, SmallCNN and "
        "output, joined by arrows.",
    ),
    "projector": (
        "The Projector (section 7): the 300 test shapes' features under PCA in 3-D, each "
        "point drawn as its thumbnail from the sprite add_embedding wrote.",
        "TensorBoard Projector dashboard: a 3-D scatter of small shape thumbnails along "
        "three axes, with the data panel on the left showing 300 points of dimension 32.",
    ),
    "pr_curves": (
        "The PR curves dashboard (section 8): precision against recall for each class, "
        "one-vs-rest, from add_pr_curve.",
        "TensorBoard PR curves dashboard: a precision-recall chart per class, each curve "
        "starting high at low recall and falling towards recall 1.",
    ),
    "custom_scalars": (
        "The Custom scalars dashboard (section 8): the layout from add_custom_scalars puts "
        "the interval means and the epoch values of the loss on one chart.",
        "TensorBoard Custom scalars dashboard: two charts, loss and accuracy, each combining "
        "several tags' curves.",
    ),
    "text": (
        "The Text dashboard (section 8): the torchinfo summary logged with add_text, kept "
        "as a table by the four-space indent.",
        "TensorBoard Text dashboard: a card titled model/summary holding a monospace table "
        "of the CNN's layers, output shapes and parameter counts.",
    ),
    "hparams": (
        "The HParams dashboard (section 9), table view: one row per run of the grid with "
        "its lr, hidden size and final metrics; sort by a metric to find the best.",
        "TensorBoard HParams dashboard table with four rows, lr0.003_h16 to lr0.03_h64, and "
        "columns hidden, lr, hparam/val_accuracy and hparam/val_loss.",
    ),
}
for path in [shot["path"] for shot in shots]:
    name = Path(path).stem.removeprefix("tensorboard_")
    caption, alt = DASHBOARDS[name]
    show_figure(path, caption=caption, alt=alt)

# %% [markdown]
# ## 14. In practice
#
# - **Interval vs overhead.** A scalar costs tens of microseconds, a histogram of a big
#   layer milliseconds, and on a GPU every `.item()` waits for the device. Log scalars
#   every N steps (interval means, as the `Trainer` does), histograms once per epoch and
#   only for weight tensors. `python benchmarks/bench_tensorboard.py` measures it: on a
#   quiet CPU these defaults add about 2 % to a step of this small CNN, while on a GPU,
#   logging `loss.item()` at every step cost nearly 20 %.
# - **Remote machines.** Run `lessonlib tensorboard 04` (or `tensorboard --logdir DIR
#   --port 6006`) on the server; on your laptop `ssh -L 6006:localhost:6006 user@server`,
#   then open `http://localhost:6006`. Nothing is exposed beyond the SSH tunnel.
# - **Comparing runs.** Name run folders after what differs (`lr0.003_h64`), keep tags the
#   same across runs, filter runs with the regex box, and put hyper-parameters in
#   `add_hparams` so the HParams table sorts them. Delete stale runs: TensorBoard shows
#   everything below `--logdir`.
# - **Reading logs in code.** `tbparse.SummaryReader(dir).scalars` or TensorBoard's
#   `EventAccumulator` give you the numbers for your own plots and tests.
