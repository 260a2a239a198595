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
import itertools
import os
import shutil
import subprocess
import sys
import warnings
from urllib.parse import quote

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.tensorboard import SummaryWriter
from torchvision.utils import make_grid

from lessonlib.data import SHAPE_CLASSES, SHAPES_MEAN, SHAPES_STD, digits_splits, shapes_splits
from lessonlib.graphs import show_image
from lessonlib.models import SmallCNN, TinyMLP, train_classifier
from lessonlib.paths import build_dir, project_root
from lessonlib.plotting import save_figure
from lessonlib.tensorboard import (
    Trainer,
    check_event_file,
    event_files,
    free_port,
    read_scalars,
    screenshot_dashboard,
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
print("default run folder:", os.path.relpath(auto.log_dir, OUT))
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
save_figure(fig, "autoencoder_epochs", OUT)
plt.show()

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
save_figure(fig, "confusion_matrix", OUT)
writer.add_figure("eval/confusion_matrix", fig, EPOCHS, close=False)
plt.show()

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
save_figure(fig, "gradient_norms", OUT)
plt.show()

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


with SummaryWriter(RUNS / "graph_dict_model") as w:
    try:
        w.add_graph(DictModel(cnn), {"image": x_test[:2]})
    except RuntimeError:
        print("→ add_graph refused the dict output")
    w.add_graph(TensorsOnly(DictModel(cnn)), x_test[:2])
    print("→ the wrapper traced fine")

# %% [markdown]
# ## 7. Embeddings in the projector
#
# `add_embedding(features, metadata, label_img)` writes the vectors, one label per row
# and a **sprite** of thumbnails; the Projector dashboard shows PCA, t-SNE or UMAP of
# them, coloured by label. Here: the CNN's 64 pooled features of the 300 test shapes.

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
save_figure(fig, "embedding_pca", OUT)
plt.show()

# %% [markdown]
# ## 8. Custom scalars, text, audio, PR curves
#
# `add_custom_scalars` stores a **layout**: charts that combine tags by regex across
# runs. `add_text` renders markdown (indent by four spaces to keep a table's columns).
# `add_audio` takes samples in [-1, 1]. `add_pr_curve(tag, labels, probabilities)` draws
# precision against recall — one curve per class, one-vs-rest.

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

# %%
import optuna

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
# table needs nothing at all; `profile_memory=True` adds the memory columns.

# %%
from torch.profiler import ProfilerActivity, profile, schedule, tensorboard_trace_handler

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
print(
    prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8, max_name_column_width=26)
)
print("trace:", [p.name for p in (RUNS / "profiler").glob("*.pt.trace.json")])

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
save_figure(fig, "ddp_writers", OUT)
plt.show()

# %% [markdown]
# ## 13. A real TensorBoard
#
# The server started in section 2 with the library's `start_tensorboard` runs
# `tensorboard --logdir build/04/runs/cnn --port …` on a free port and re-reads the
# folder every 2 s (`lessonlib tensorboard 04` does the same from a shell). Its HTTP data
# API serves exactly what the event files hold; headless chromium then photographs the
# Scalars dashboard once its charts are drawn, and the server is stopped.

# %%
with server.wait_until_ready():
    logged = read_scalars(RUNS / "cnn").query("run == '.' and tag == 'train/loss'")
    served = server.wait_for_scalars(".", "train/loss", len(logged))
    print(f"{server.url}data/plugin/scalars/scalars?run=.&tag=train/loss: {len(served)} points,")
    print("  the same as in the event file:", np.allclose([v for *_, v in served], logged.value))
    charts = "&tagFilter=" + quote("^(train/loss|train/accuracy|loss|accuracy)$")
    picture = OUT / "tensorboard_scalars.png"
    shot = screenshot_dashboard(
        server.url, picture, query=charts + "&_smoothingWeight=0", min_lines=4
    )
print(f"{shot['cards']} charts, {shot['lines']} lines drawn; server still running: {server.alive}")
show_image(shot["path"])

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
