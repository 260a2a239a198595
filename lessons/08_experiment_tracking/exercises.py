"""Lesson 08 exercises: log runs to MLflow and Neptune (offline), query them, migrate logs.

Every function works in the current folder: MLflow stores are SQLite files given by their
path (``"mlflow.db"``; open one with ``MlflowClient(tracking_uri=f"sqlite:///{store}")``),
Neptune writes under ``.neptune/`` there. The checks read what you wrote with MLflow's own
client and ``search_runs``, tbparse and Neptune's offline files, never with your code.
Nothing here needs a server or the network. Check your work with ``lessonlib check 08``;
stuck? ``lessonlib hint 08.1``.
"""

from __future__ import annotations


def log_run(
    store: str, experiment: str, run_name: str, params: dict, history: dict[str, list[float]]
) -> str:
    """Log one finished run to the MLflow store ``store``; return its run id.

    Use the experiment named ``experiment`` (create it when the store has none of that name;
    reuse it when it has), name the run ``run_name``, log every entry of ``params`` as a
    param, and each metric of ``history`` at steps 1, 2, … (``history["train/loss"][0]`` is
    the value at step 1, not step 0). End the run, so that its status is FINISHED.
    """
    raise NotImplementedError("TODO(08.1)")


def best_run(store: str, experiment: str, metric: str, lower_is_better: bool = True) -> dict:
    """The best run of ``experiment`` in the MLflow store ``store`` by ``metric``.

    Judge each run by the metric's **last** logged value (what ``search_runs`` and the UI
    show), not by its best value along the way; skip runs that never logged it, and runs of
    other experiments. Return ``{"run_id": str, "run_name": str, "value": float}``.
    """
    raise NotImplementedError("TODO(08.2)")


def tensorboard_to_mlflow(logdir: str, store: str, experiment: str, run_name: str) -> str:
    """Copy every scalar of the TensorBoard run in ``logdir`` into a new MLflow run; return its id.

    Each TensorBoard tag becomes an MLflow metric of the same name, each point keeps its step,
    its value and its wall time (MLflow timestamps are milliseconds, TensorBoard wall times
    seconds). Create the experiment if the store has none of that name, name the run
    ``run_name`` and end it (status FINISHED).
    """
    raise NotImplementedError("TODO(08.3)")


def log_to_neptune(
    run_name: str, params: dict, history: dict[str, list[float]], artifact: str
) -> list[str]:
    """Log one run with Neptune in offline mode; return the fields you wrote, sorted.

    Start it with ``neptune.init_run(project="course/lesson08", mode="offline",
    name=run_name)``. Log each param as the field ``parameters/<name>`` with its type kept
    (an int stays an int, a bool a bool), each metric of ``history`` as a float series under
    the metric's own name (``val/top1`` is the series ``top1`` in the namespace ``val``) at
    steps 1, 2, …, and upload the file ``artifact`` as ``artifacts/<its file name>``. Stop the
    run. Return the field paths, e.g. ``["artifacts/w.pt", "parameters/lr", "train/loss"]``.
    """
    raise NotImplementedError("TODO(08.4)")
