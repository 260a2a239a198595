# %% [markdown]
# # Lesson 05 — Visdom: live dashboards while you train
#
# TensorBoard writes event files that you read *afterwards*. **Visdom** is the opposite:
# a small web server that your training script *pushes* plots to, and a browser page that
# redraws them the moment they arrive. In this lesson you will:
#
# - start a Visdom server and connect a client to it;
# - stream train/val curves epoch by epoch with `viz.line(..., update="append")`;
# - add an image grid (`viz.images`), a status pane (`viz.text`), a confusion-matrix
#   heatmap (`viz.heatmap`) and an embedding scatter plot (`viz.scatter`);
# - organise windows in **environments**, save one to disk and get it back after a restart;
# - log without a server (`log_to_filename`) and replay the log into a server later;
# - decide when Visdom fits better than TensorBoard, and when it does not.
#
# Run it with `lessonlib run 05`; every file it writes lands in `build/05/`. The screenshots
# below are the real Visdom UI, rendered offline by headless chromium during the run.

# %%
import json

import numpy as np
import torch
from torch.nn import functional as F

from lessonlib.data import SHAPE_CLASSES, shapes_splits
from lessonlib.errors import LessonlibError
from lessonlib.figures import show_figure
from lessonlib.models import small_cnn, train_classifier
from lessonlib.paths import build_dir
from lessonlib.visdom import screenshot_visdom, start_visdom, visdom_client

OUT = build_dir("05")
ENVS = OUT / "envs"  # where the server keeps saved environments (default: ~/.visdom)
ENV = "lesson05"

# %% [markdown]
# ## 1. A server and a client
#
# In a terminal you would run `lessonlib visdom` (it prints the URL to open, e.g.
# `http://127.0.0.1:8097`, and Ctrl-C stops it). Here the lesson starts its own server on a
# free port with `start_visdom`, which runs Visdom's server **without** its first-start
# download of JavaScript from CDNs (this course installs those files from npm at set-up).
#
# The client is `visdom.Visdom(server=..., port=..., env=...)`. Our `visdom_client` builds
# exactly that after checking that the server answers; when none does, it says so in one
# sentence and returns an offline client that logs to a file (section 5) — instead of
# printing a connection traceback for every plot.

# %%
try:
    server = start_visdom(env_path=ENVS)
    print(f"Visdom answers at {server.url} after {server.started_in:.1f} s")
except LessonlibError as err:  # the lesson still runs: plots go to a log file
    print(err)
    server = None
viz = visdom_client(server, env=ENV, fallback_log=OUT / "no_server.log")
print(type(viz), "offline" if viz.offline else "connected", "| env:", viz.env)

# %% [markdown]
# ## 2. Live training curves
#
# The first `viz.line` call creates the window `"loss"`; every later call with
# `update="append"` adds points to it, so the browser shows the curve growing while the
# model trains. `Y` with two columns draws two lines (train and val) that share `X`.
# `train_classifier` calls our `on_epoch` function after each epoch; a small CNN learns to
# tell five synthetic shapes apart.

# %%
train_set, val_set = shapes_splits(n_train=2000, n_test=300, size=32)
model = small_cnn(seed=0)
# A model this small gains nothing from a second thread, and on a busy machine threads
# that wait for each other make training many times slower.
torch.set_num_threads(1)


def on_epoch(epoch: int, m: dict) -> None:
    update = "append" if epoch > 1 else None  # None creates the window
    x = np.array([[epoch, epoch]])
    viz.line(
        X=x,
        Y=np.array([[m["train_loss"], m["val_loss"]]]),
        win="loss",
        update=update,
        opts=dict(title="loss", legend=["train", "val"], xlabel="epoch", ylabel="cross-entropy"),
    )
    viz.line(
        X=x,
        Y=np.array([[m["train_acc"], m["val_acc"]]]),
        win="accuracy",
        update=update,
        opts=dict(
            title="accuracy", legend=["train", "val"], xlabel="epoch", ytickmin=0, ytickmax=1
        ),
    )
    status = f"train loss {m['train_loss']:.3f}<br>val accuracy {m['val_acc']:.1%}"
    viz.text(f"<b>epoch {epoch}</b><br>{status}", win="status", opts=dict(title="status"))
    print(f"epoch {epoch}: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items()))


result = train_classifier(
    model,
    train_set,
    val_set,
    epochs=6,
    batch_size=32,
    lr=1e-2,
    schedule="onecycle",
    on_epoch=on_epoch,
)

# %% [markdown]
# `viz.text` with the same `win` **replaces** the pane's HTML: a status line that always
# shows the latest epoch. (Pass `append=True` to keep a running log instead.)
#
# ## 3. Images, a confusion matrix and embeddings
#
# `viz.images` takes a batch `(N, C, H, W)` and lays it out as a grid (`nrow` per row); we
# upscale the 32-px images so they are visible, and `opts` width and height size the pane.
# `viz.heatmap` draws a matrix: here the confusion matrix of the validation set (rows: true
# class, columns: predicted; Plotly puts row 0 at the bottom).

# %%
images = torch.stack([val_set[i][0] for i in range(len(val_set))])
labels = torch.tensor([val_set[i][1] for i in range(len(val_set))])
with torch.no_grad():
    features = model.classifier[:2](model.features(images))  # what the last layer sees
    predicted = model.classifier[2](features).argmax(1)
wrong = (predicted != labels).nonzero().flatten()[:8].tolist()
shown = list(range(8)) + wrong  # the first row: any eight; the second: mistakes
viz.images(
    F.interpolate(images[shown], scale_factor=2, mode="nearest"),
    nrow=8,
    padding=4,
    win="samples",
    opts=dict(title="val images (row 2: mistakes)", width=600, height=340),
)
print("row 2, predicted:", [SHAPE_CLASSES[int(predicted[i])] for i in wrong])
print("row 2, true:     ", [SHAPE_CLASSES[int(labels[i])] for i in wrong])

confusion = torch.zeros(5, 5, dtype=torch.int64)
confusion.index_put_((labels, predicted), torch.ones_like(labels), accumulate=True)
viz.heatmap(
    X=confusion.numpy(),
    win="confusion",
    opts=dict(
        title="confusion (rows: true)",
        columnnames=list(SHAPE_CLASSES),
        rownames=list(SHAPE_CLASSES),
        colormap="Viridis",
    ),
)
print(confusion)

# %% [markdown]
# `viz.scatter` plots points coloured by a label vector `Y` whose values must run from
# **1** to K, not from 0 (else: `AssertionError: labels are assumed to be at least 1`). We
# project the pooled features (one vector per image) onto their first two principal
# components.

# %%
centred = features - features.mean(0)
_, _, v = torch.linalg.svd(centred, full_matrices=False)
points = centred @ v[:2].T
viz.scatter(
    X=points.numpy(),
    Y=(labels + 1).numpy(),
    win="embedding",
    opts=dict(
        title="features, first 2 principal components", legend=list(SHAPE_CLASSES), markersize=6
    ),
)
print(f"features {tuple(features.shape)} -> points {tuple(points.shape)}")

# %% [markdown]
# This is the page Visdom serves right now (environment `lesson05`), captured by headless
# chromium; the DOM counts say what it drew.


# %%
def shot(name: str, env: str, caption: str, alt: str, height: int = 1150) -> None:
    """Screenshot environment ``env`` of the running server into build/05/``name``."""
    if server is None or viz.offline:
        print("(no screenshot: no Visdom server is running)")
        return
    try:
        drawn = screenshot_visdom(server.url, OUT / name, env=env, width=1280, height=height)
        print("drawn:", drawn)
        show_figure(OUT / name, caption=caption, alt=alt)
    except LessonlibError as err:
        print(err)


shot(
    "visdom_dashboard.png",
    ENV,
    caption="The real Visdom UI serving environment lesson05, photographed by headless "
    "chromium: the train and val curves appended epoch by epoch, the image grid, the status "
    "text, the confusion-matrix heatmap and the embedding scatter.",
    alt="A Visdom page with several window panes: a line chart with two loss curves, a grid "
    "of shape images, a text pane, a coloured 5 by 5 heatmap and a scatter plot of points "
    "in five colours.",
)

# %% [markdown]
# Everything the page shows is also readable from Python: `get_window_data` returns a
# window's JSON, the same the browser received.

# %%
if not viz.offline:
    loss_window = json.loads(viz.get_window_data("loss", env=ENV))
    for trace in loss_window["content"]["data"]:
        print(trace["name"], [round(y, 3) for y in trace["y"]])

# %% [markdown]
# ## 4. Environments: save, restart, reload
#
# An **environment** (`env=`) is a named page of windows: one per experiment keeps runs
# apart, and the UI's environment box switches between them. They live in the server's
# memory until you `viz.save([...])` them: then each is a JSON file in the server's
# `env_path`, and a server started on that folder offers it again.

# %%
if server is not None and not viz.offline:
    print("environments:", viz.get_env_list())
    viz.save([ENV])
    saved = ENVS / f"{ENV}.json"
    windows = sorted(json.loads(saved.read_text())["jsons"])
    print(f"saved {saved.name}: {saved.stat().st_size / 1024:.0f} KiB, windows {windows}")
    server.stop()
    server = start_visdom(env_path=ENVS)  # a fresh process, same folder
    viz = visdom_client(server, env=ENV)
    again = json.loads(viz.get_window_data("loss", env=ENV))
    print("after the restart, val loss:", [round(y, 3) for y in again["content"]["data"][1]["y"]])

# %% [markdown]
# ## 5. Logging with no server, replaying later
#
# On a cluster node without a browser you can still use the same calls:
# `Visdom(offline=True, log_to_filename=path)` writes every plot call as one JSON line and
# sends nothing. Later, a client connected to a server replays the file with
# `replay_log(path)` and the windows appear as if they had been live. (A connected client
# given `log_to_filename` both sends and logs.)

# %%
from visdom import Visdom

log_path = OUT / "offline_run.log"
log_path.unlink(missing_ok=True)
offline = Visdom(offline=True, log_to_filename=str(log_path), env="offline_run")
for epoch, loss in enumerate(result.history["val_loss"], start=1):
    offline.line(
        X=np.array([epoch]),
        Y=np.array([loss]),
        win="val_loss",
        update="append" if epoch > 1 else None,
        opts=dict(title="val loss (replayed)"),
    )
print(log_path.read_text().splitlines()[0][:150], "...")

if server is not None and not viz.offline:
    viz.replay_log(str(log_path))
    replayed = json.loads(viz.get_window_data("val_loss", env="offline_run"))
    print("replayed:", [round(y, 3) for y in replayed["content"]["data"][0]["y"]])

# %% [markdown]
# And when no server runs at all? `visdom_client` checks first, says so once and falls back
# to the offline log — no hang, no traceback per plot.

# %%
if server is not None:
    url = server.url
    server.stop()
    (OUT / "after_stop.log").unlink(missing_ok=True)
    fallback = visdom_client(url, env=ENV, fallback_log=OUT / "after_stop.log")
    fallback.text("logged, not sent", win="status")
    print(
        "offline:",
        fallback.offline,
        "| log lines:",
        len((OUT / "after_stop.log").read_text().splitlines()),
    )

# %% [markdown]
# ## 6. Visdom or TensorBoard?
#
# | | Visdom | TensorBoard |
# |---|---|---|
# | model | the script **pushes** to a live server | the script **writes** files; a server reads |
# | best at | live dashboards, ad-hoc panes, demos | run history: many runs, smoothing, histograms |
# | without a server | offline log, replayed later | always: files first |
# | persistence | only what you `save`, as JSON | everything, as event files |
# | layout | you arrange windows per environment | fixed dashboards per plugin |
#
# Use Visdom when you watch one experiment *now* and want a custom dashboard; use
# TensorBoard (lesson 04) to keep and compare the history of many runs. Many projects do
# both: the same `on_epoch` callback can feed a `SummaryWriter` and a `Visdom` client.
#
# ## What to try
#
# - Run `lessonlib visdom` in a terminal, open the URL and run this lesson's section 2 in a
#   Python shell against it (`visdom_client("http://127.0.0.1:8097", env="mine")`): watch the
#   curves grow.
# - Add a window with `viz.bar` of the per-class accuracy, updated each epoch.
# - Now do the exercises: `lessonlib check 05`, and `lessonlib hint 05.1` when stuck.
