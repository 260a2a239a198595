# %% [markdown]
# # Lesson 08 — Experiment tracking: MLflow, Neptune (offline) and tensorboardX
#
# TensorBoard (lesson 04) and Visdom (lesson 05) draw curves. An **experiment tracker**
# keeps *runs*: each run's parameters, metrics, tags and files (a figure, the model) in a
# store you can query — which learning rate won, with which code, and where its weights
# are. In this lesson you will:
#
# - train the course's small CNN on the shapes at three learning rates and log every run
#   **once**, through a small tracker interface, to TensorBoard, tensorboardX, Visdom,
#   MLflow and Neptune at the same time — and read that interface in full;
# - compare the runs in MLflow with `search_runs`, pick the best by validation loss and
#   attach its model with `mlflow.pytorch.log_model`;
# - read the metrics back from a **real MLflow server** over its REST API, and photograph
#   its UI;
# - see what Neptune's **offline** mode writes to disk, and what `neptune sync` would need;
# - check that tensorboardX writes the same event files as `torch.utils.tensorboard`;
# - measure it all in one table (what each stores, where, how big, how fast its UI starts,
#   what each costs per training step), and meet four bad inputs.
#
# Run it with `lessonlib run 08`; everything lands in `build/08/`. Afterwards, browse the
# runs yourself with `lessonlib mlflow` (Ctrl-C stops it). Nothing here uses the network.

# %%
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm, imported by the trackers
import inspect
import json
import os
import shutil
import socket
import textwrap
import time

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
import torch
from torch import nn

from lessonlib.data import SHAPE_CLASSES, SHAPES_MEAN, SHAPES_STD, shapes_splits
from lessonlib.errors import LessonlibError
from lessonlib.figures import show_figure
from lessonlib.mlflow_server import rest, screenshot_mlflow, start_mlflow
from lessonlib.models import SmallCNN
from lessonlib.paths import build_dir
from lessonlib.tensorboard import read_scalars, start_tensorboard
from lessonlib.tracking import (
    FirstAnswer,
    MLflowTracker,
    MultiTracker,
    NeptuneTracker,
    NonFiniteMetricWarning,
    TensorBoardTracker,
    VisdomTracker,
    disk_usage,
    fresh_mlflow_store,
    quiet_trackers,
)
from lessonlib.visdom import start_visdom, visdom_client
from lessonlib.web import chromium_path

quiet_trackers()  # no telemetry, no banners: this course runs offline
torch.manual_seed(0)
torch.set_num_threads(1)  # a tiny model: one thread, no fight over 2 shared CPUs
OUT = build_dir("08")
for old in ("tensorboard", "tensorboardX", "neptune", "models", "envs"):
    shutil.rmtree(OUT / old, ignore_errors=True)  # every run of the lesson starts clean
os.chdir(OUT)
STORE = fresh_mlflow_store(OUT / "mlflow.db")  # an empty MLflow store (a SQLite file)
shutil.rmtree(f"{STORE}.artifacts", ignore_errors=True)
(OUT / "tensorboard").mkdir()

# %% [markdown]
# **Three servers in the background.** Each tool's UI is a server. We start MLflow's and
# TensorBoard's now, so they boot while we train, and time how long each takes to answer
# its first request. Visdom's must be up *before* training: its client pushes every point.

# %%
t0 = time.perf_counter()
mlflow_server = start_mlflow(STORE, wait=False)  # `lessonlib mlflow` runs the same
tb_server = start_tensorboard(OUT / "tensorboard", wait=False)
first_answer = {
    "MLflow": FirstAnswer(mlflow_server.url, t0),
    "TensorBoard": FirstAnswer(tb_server.url, t0),
}
try:
    visdom_server = start_visdom(env_path=OUT / "envs", quiet=True)
    visdom_seconds = visdom_server.started_in
except LessonlibError as err:  # the lesson still runs: Visdom's points go to a log file
    print(err)
    visdom_server, visdom_seconds = None, float("nan")
viz = visdom_client(visdom_server, env="lesson08", fallback_log=OUT / "visdom_offline.log")

# %% [markdown]
# ## 1. One interface, five trackers
#
# A training loop should not know where its numbers go. `lessonlib.tracking` gives it one
# object with five calls — `log_params(dict)`, `log_metrics(dict, step)`,
# `log_figure(fig, name, step)`, `log_artifact(path)`, `close()` — and one class per tool
# that turns them into that tool's own API. Those classes are the point of this lesson:
# read how each tool names things and what it keeps. Here is every call they make:

# %%
for cls in (TensorBoardTracker, VisdomTracker, MLflowTracker, NeptuneTracker):
    print(f"# ---------------- {cls.__name__}: {cls.__doc__.splitlines()[0]}")
    for method in ("_params", "_metrics", "_figure", "_artifact", "_close"):
        source = textwrap.dedent(inspect.getsource(getattr(cls, method)))
        print("\n".join(line for line in source.splitlines() if line.strip()))

# %% [markdown]
# What to notice:
#
# - **Names.** A tag `train/loss` is a TensorBoard tag, a Visdom window, an MLflow metric
#   key — and in Neptune a *path*: `train` is a namespace holding the float series `loss`.
#   Params become MLflow strings (`"0.003"`), typed Neptune fields (`parameters/lr`), a
#   TensorBoard text card plus an HParams entry.
# - **Steps.** Every tool takes the step explicitly; forget it and MLflow puts every
#   point at step 0, Neptune numbers them itself.
# - **Files.** MLflow and Neptune store artifacts; TensorBoard and Visdom have no place
#   for them (our adapter copies into the log folder, or lists the name).
#
# ## 2. Three runs, logged once
#
# The same seeded training at three learning rates: `SmallCNN` on 1200 shapes of 32×32
# pixels, 3 epochs of 38 steps, the training loss at every step, validation loss and
# accuracy at each epoch's end; then a confusion-matrix figure and the weights as a file.
# These runs are short on purpose (seconds each) and far from trained — lesson 02's model
# reaches 99 % with more data and epochs; what matters here is that the trackers keep
# them apart.

# %%
train, val = shapes_splits(n_train=1200, n_test=200, size=32)
mean, std = torch.tensor(SHAPES_MEAN).view(1, 3, 1, 1), torch.tensor(SHAPES_STD).view(1, 3, 1, 1)
x_train, y_train = (train.images - mean) / std, train.labels
x_val, y_val = (val.images - mean) / std, val.labels
EPOCHS, BATCH = 3, 32
RATES = [0.001, 0.003, 0.01]


def confusion_figure(model: nn.Module) -> plt.Figure:
    with torch.no_grad():
        pred = model(x_val).argmax(1)
    matrix = torch.zeros(5, 5, dtype=torch.int64).index_put_((y_val, pred), torch.tensor(1), True)
    fig, ax = plt.subplots(figsize=(3.2, 3))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(5), SHAPE_CLASSES, rotation=45, fontsize=7)
    ax.set_yticks(range(5), SHAPE_CLASSES, fontsize=7)
    ax.set(xlabel="predicted", ylabel="true")
    fig.tight_layout()
    return fig


def train_run(tracker, lr: float, seed: int = 0) -> tuple[nn.Module, dict, list, float]:
    """Train one run, logging through ``tracker``: the model, last metrics, losses, step seconds."""
    torch.manual_seed(seed)
    model = SmallCNN()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    tracker.log_params({"lr": lr, "epochs": EPOCHS, "batch_size": BATCH, "model": "SmallCNN"})
    step, compute, losses = 0, 0.0, []
    for _ in range(EPOCHS):
        model.train()
        for idx in torch.randperm(len(x_train), generator=order).split(BATCH):
            start = time.perf_counter()
            loss = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            value = loss.item()
            compute += time.perf_counter() - start
            step += 1
            losses.append(value)
            tracker.log_metrics({"train/loss": value}, step)
        model.eval()
        with torch.no_grad():
            logits = model(x_val)
        last = {
            "val/loss": nn.functional.cross_entropy(logits, y_val).item(),
            "val/accuracy": (logits.argmax(1) == y_val).float().mean().item(),
        }
        tracker.log_metrics(last, step)
    return model, last, losses, compute / step


runs, trackers = {}, {}
(OUT / "models").mkdir()
for lr in RATES:
    name = f"lr{lr}"
    backends = [
        TensorBoardTracker(OUT / "tensorboard" / name),
        TensorBoardTracker(OUT / "tensorboardX" / name, flavor="tensorboardX"),
        VisdomTracker(viz, name, env_file=OUT / "envs" / "lesson08.json"),
        MLflowTracker(STORE, "shapes", name, tags={"dataset": "shapes-32px"}),
        NeptuneTracker(OUT / "neptune", name, tags=["shapes"]),
    ]
    with MultiTracker(backends) as tracker:
        model, last, losses, step_s = train_run(tracker, lr)
        figure = confusion_figure(model)
        tracker.log_figure(figure, "confusion_matrix", tracker.steps)
        plt.close(figure)
        weights = OUT / "models" / f"{name}.pt"
        torch.save(model.state_dict(), weights)
        tracker.log_artifact(weights)
    runs[name] = {"model": model, "run_id": backends[3].run_id, "losses": losses, **last}
    runs[name]["step_s"] = step_s
    trackers[name] = backends
    print(f"{name}: val loss {last['val/loss']:.3f}, accuracy {last['val/accuracy']:.2f}")

# %% [markdown]
# ## 3. MLflow: compare the runs, keep the best model
#
# All three runs sit in one SQLite file, `build/08/mlflow.db` (their files in
# `mlflow.db.artifacts/`). `mlflow.search_runs` returns them as a pandas table: one row
# per run, `params.*`, `metrics.*` (each metric's **last** value) and `tags.*` columns;
# `filter_string` and `order_by` use the same names. The best run by validation loss is
# the first row of `order_by=["metrics.`val/loss` ASC"]`.

# %%
mlflow.set_tracking_uri(f"sqlite:///{STORE}")
experiment = mlflow.get_experiment_by_name("shapes")
table = mlflow.search_runs(
    [experiment.experiment_id],
    filter_string="tags.dataset = 'shapes-32px'",
    order_by=["metrics.`val/loss` ASC"],
)
columns = ["tags.mlflow.runName", "params.lr", "metrics.val/loss", "metrics.val/accuracy"]
print(table[columns].round(4).to_string(index=False))
best = table.iloc[0]
best_name = best["tags.mlflow.runName"]
print(f"best run by validation loss: {best_name}")

# %% [markdown]
# Attach the winner's model to its run with the flavour API: `mlflow.pytorch.log_model`
# writes the weights plus an `MLmodel` file (how to load it), the pip requirements and an
# input example with its signature. We pin the requirements instead of letting MLflow
# guess them (guessing imports your whole environment, seconds). `serialization_format=
# "pickle"` saves the module with `torch.save`: quick, but loading it runs pickled code, so
# load only models you trust; the default, `"pt2"`, traces the model with `torch.export`
# instead (safer to load, slower to save). `load_model` then gives back a model that
# predicts exactly what the trained one does.

# %%
pins = [f"torch=={torch.__version__.split('+')[0]}"]
with mlflow.start_run(run_id=best["run_id"]):
    logged = mlflow.pytorch.log_model(
        runs[best_name]["model"], name="model", serialization_format="pickle",
        input_example=x_val[:2].numpy(), pip_requirements=pins,
    )  # fmt: skip
reloaded = mlflow.pytorch.load_model(logged.model_uri)
same = torch.equal(reloaded(x_val).argmax(1), runs[best_name]["model"](x_val).argmax(1))
files = mlflow.artifacts.list_artifacts(logged.model_uri)
print("model files:", sorted(f.path.rsplit("/", 1)[-1] for f in files))
print("reloaded model predicts the same classes:", same)

# %% [markdown]
# ## 4. A real MLflow server: REST API and UI
#
# The server started at the top serves the same SQLite file. Everything the UI shows comes
# from its REST API, which any program can call: `runs/search` lists the runs,
# `metrics/get-history` returns every point of one metric. We read the training loss of
# each run back and compare it with the losses the training loop computed (steps 1, 2, …).

# %%
first_answer["MLflow"].wait(60)
found = rest(mlflow_server, "runs/search", {"experiment_ids": [experiment.experiment_id]})
print(f"runs/search: {len(found['runs'])} runs")
for name, run in runs.items():
    history = rest(
        mlflow_server, "metrics/get-history", run_id=run["run_id"], metric_key="train/loss"
    )
    served = sorted((m["step"], m["value"]) for m in history["metrics"])
    steps = list(range(1, len(run["losses"]) + 1))
    same = [s for s, _ in served] == steps and np.allclose([v for _, v in served], run["losses"])
    print(f"  {name}: {len(served)} points of train/loss, the training loop's losses: {same}")

# %% [markdown]
# Headless chromium opens the experiment's **chart view** (`compareRunsMode=CHART`): one
# chart per metric, one line per run, coloured as in the runs list.

# %%
if chromium_path() is None:
    print("no chromium here, so no picture: install it with 'sudo apt-get install chromium'.")
else:
    shot = screenshot_mlflow(
        mlflow_server.url, OUT / "mlflow_ui.png", experiment.experiment_id, run_names=list(runs)
    )
    show_figure(
        shot["path"],
        caption="MLflow's chart view of the experiment `shapes`: the three runs' `train/loss`, "
        "`val/loss` and `val/accuracy`, one colour per learning rate.",
        alt="The MLflow web UI: a runs list with lr0.001, lr0.003 and lr0.01 on the left, line "
        "charts of train/loss, val/loss and val/accuracy on the right.",
    )
mlflow_server.stop()

# %% [markdown]
# ## 5. Neptune offline: what lands on disk
#
# `neptune.init_run(mode="offline")` needs no account, token or network: every call is
# appended to a local queue, `build/08/neptune/offline/run__<id>__…/data-1.log`, one JSON
# operation per line, with copies of uploaded images beside it. Later,
# `neptune sync --path build/08/neptune` would replay the queue to a **Neptune server**
# (app.neptune.ai or a self-hosted one) with your `NEPTUNE_API_TOKEN` and project — the
# one step this course never takes.

# %%
folder = trackers[best_name][4].folder()
for path in sorted(folder.rglob("*")):
    if path.is_file():  # the folder's name holds the run id, a process id and a random key
        shown = f"offline/run__<id>__…/{path.relative_to(folder).as_posix()}"
        print(f"{shown[:64]:66s} {path.stat().st_size:>6} B")
operations = [json.loads(line)["obj"] for line in (folder / "data-1.log").read_text().splitlines()]
print(f"\n{len(operations)} operations; one of each kind:")
seen = set()
for op in operations:
    if op["type"] not in seen:
        seen.add(op["type"])
        shown = {k: v for k, v in op.items() if k not in ("tmp_file_name", "clean_after_upload")}
        print(" ", json.dumps(shown)[:110])

# %% [markdown]
# Note the last kind: `run["artifacts/…"].upload(path)` recorded only the file's **path**.
# `neptune sync` reads the file then, so moving or deleting it before the sync loses it;
# an image made from a figure was copied into the folder instead. Neptune's `debug`
# mode goes further: calls are checked and dropped, nothing is written.

# %%
before = sorted(p.name for p in (OUT / "neptune" / "offline").iterdir())
with NeptuneTracker(OUT / "neptune", "debug-run", mode="debug") as debug_run:
    debug_run.log_metrics({"train/loss": 1.0}, 1)
after = sorted(p.name for p in (OUT / "neptune" / "offline").iterdir())
print(f"offline runs before: {len(before)}, after a debug run: {len(after)}")

# %% [markdown]
# ## 6. tensorboardX: the same event files
#
# Before `torch.utils.tensorboard` existed, PyTorch users logged with **tensorboardX**
# (`from tensorboardX import SummaryWriter`, same methods). It needs no torch and still
# works. Our fifth tracker wrote every run through it; TensorBoard's own reader finds the
# same scalars in both folders, so `tensorboard --logdir` shows both alike.

# %%
for name in runs:
    torch_tb = read_scalars(OUT / "tensorboard" / name).sort_values(["tag", "step"])
    tbx = read_scalars(OUT / "tensorboardX" / name).sort_values(["tag", "step"])
    equal = torch_tb[["tag", "step"]].values.tolist() == tbx[["tag", "step"]].values.tolist()
    close = np.allclose(torch_tb.value, tbx.value)
    print(f"{name}: {len(tbx)} scalars, same tags and steps: {equal}, same values: {close}")

# %% [markdown]
# ## 7. The comparison, measured
#
# Sizes are what each tool wrote for these three runs; "UI answers" is the time from
# starting its server to its first answer, while this lesson trained beside it (Neptune
# has no local UI); "ms per step" is the time the training loop spent inside that tool's
# `log_metrics` calls, per call, against the training step itself without logging (same
# runs, same process). `python benchmarks/bench_tracking.py` measures the same alone.

# %%
tb_seconds = first_answer["TensorBoard"].wait(60)
tb_server.stop()
if visdom_server is not None:
    visdom_server.stop()
step_ms = 1000 * np.mean([run["step_s"] for run in runs.values()])
facts = {
    "TensorBoard": ("scalars, figures, params (text, HParams)", "event files", tb_seconds,
                    "all local"),
    "tensorboardX": ("the same as TensorBoard", "event files", tb_seconds, "all local"),
    "Visdom": ("lines, images, params (text); no files", "env JSON on its server",
               visdom_seconds, "needs its server while logging (or a log to replay)"),
    "MLflow": ("params, metrics, tags, figures, files, models", "SQLite + artifact folder",
               first_answer["MLflow"].seconds, "local store; server optional"),
    "Neptune": ("params, metric series, figures, file paths", "offline queue folder",
                float("nan"), "offline/debug modes; sync needs a server"),
}  # fmt: skip
rows = []
for i, tool in enumerate(facts):
    stores, where, ui_s, offline = facts[tool]
    mine = [trackers[name][i] for name in runs]
    if tool == "Visdom":
        paths = [OUT / "envs" / "lesson08.json"] if visdom_server else [OUT / "visdom_offline.log"]
    else:
        paths = {p for t in mine for p in t.stored()}
    ms = 1000 * sum(t.seconds.get("metrics", 0) for t in mine) / sum(t.steps for t in mine)
    rows.append({
        "tracker": tool, "stores": stores, "where": where,
        "on disk (KB)": round(disk_usage(paths) / 1024),
        "UI answers (s)": "—" if np.isnan(ui_s) else round(ui_s, 1), "offline": offline,
        "ms per step": round(ms, 2), "vs a step": f"{ms / step_ms:.0%}",
    })  # fmt: skip
comparison = pd.DataFrame(rows)
comparison.to_csv(OUT / "comparison.csv", index=False)
print(f"one training step without logging: {step_ms:.1f} ms")
print(comparison.to_string(index=False))

# %% [markdown]
# How to read it: the file-writing tools (TensorBoard, tensorboardX, Neptune offline) cost
# a fraction of a millisecond per step, because they only queue records for a background
# thread. MLflow's local store commits one SQLite transaction per `log_batch` call:
# milliseconds, so log every N steps (or pass `synchronous=False` to queue them) when
# steps are short. Visdom pays an HTTP request per window and point. On disk MLflow's
# store is the largest: most of the SQLite file is MLflow's (empty) schema.
#
# ## 8. Bad inputs, one sentence each
#
# Each of these stops before anything is logged, or drops only the bad value, and says
# what to do in one sentence.

# %%
with socket.socket() as busy:  # 1. the port is taken by another program
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        start_mlflow(STORE, port=busy.getsockname()[1])
    except LessonlibError as err:
        print("port busy:      ", str(err).replace(str(busy.getsockname()[1]), "<port>"))

locked = OUT / "read_only"  # 2. a store folder marked read-only
locked.mkdir(exist_ok=True)
locked.chmod(0o555)
try:
    MLflowTracker(locked / "mlflow.db", "shapes")
except LessonlibError as err:
    print("read-only store:", str(err).replace(str(OUT), "build/08"))
finally:
    locked.chmod(0o755)

with (  # 3. a NaN metric: dropped with one warning, the step's other metrics are kept
    MLflowTracker(STORE, "bad-inputs", "nan") as tracker,
    warnings.catch_warnings(record=True) as caught,
):
    warnings.simplefilter("always", NonFiniteMetricWarning)
    tracker.log_metrics({"train/loss": float("nan"), "val/accuracy": 0.9}, step=7)
kept = mlflow.get_run(tracker.run_id).data.metrics
print("NaN metric:     ", caught[0].message, "| kept:", kept)

try:  # 4. Neptune asked to go online, with no Neptune server
    NeptuneTracker(OUT / "neptune", "online", mode="async")
except LessonlibError as err:
    print("Neptune online: ", err)

# %% [markdown]
# ## 9. In practice
#
# - **Which one?** TensorBoard for curves and model internals while you train; MLflow
#   when you compare many runs, keep their files and models, and want one store a team
#   can query (a SQLite file first, a database server later); Neptune when you already
#   have its hosted service (offline mode keeps working on a plane). Visdom for live,
#   custom dashboards of a running job.
# - **Log once.** A tiny interface like ours keeps training code free of tool calls;
#   PyTorch Lightning's loggers and Hugging Face's `report_to` are the same idea.
# - **Name things for later.** The same tag names in every run, the params that differ
#   in the run name, a tag for the data set: `search_runs` and the UIs filter on them.
# - **Serve a store**: `lessonlib mlflow` (or `mlflow server --backend-store-uri
#   sqlite:///build/08/mlflow.db`); over ssh, `ssh -L 5000:localhost:5000 host`.
