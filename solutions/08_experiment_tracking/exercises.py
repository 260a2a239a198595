"""Lesson 08 exercises, solved."""

from __future__ import annotations

from pathlib import Path


def _client(store: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{store}")


def _experiment_id(client, experiment: str) -> str:
    found = client.get_experiment_by_name(experiment)
    return found.experiment_id if found is not None else client.create_experiment(experiment)


def log_run(
    store: str, experiment: str, run_name: str, params: dict, history: dict[str, list[float]]
) -> str:
    """Log one finished run to the MLflow store ``store``; return its run id."""
    client = _client(store)
    run_id = client.create_run(_experiment_id(client, experiment), run_name=run_name).info.run_id
    for key, value in params.items():
        client.log_param(run_id, key, value)
    for name, values in history.items():
        for step, value in enumerate(values, start=1):
            client.log_metric(run_id, name, value, step=step)
    client.set_terminated(run_id)
    return run_id


def best_run(store: str, experiment: str, metric: str, lower_is_better: bool = True) -> dict:
    """The best run of ``experiment`` in the MLflow store ``store`` by ``metric``."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{store}")
    order = "ASC" if lower_is_better else "DESC"
    frame = mlflow.search_runs(
        experiment_names=[experiment], order_by=[f"metrics.`{metric}` {order}"]
    )
    column = f"metrics.{metric}"
    frame = frame.dropna(subset=[column]) if column in frame else frame.iloc[0:0]
    row = frame.iloc[0]
    return {
        "run_id": row["run_id"],
        "run_name": row["tags.mlflow.runName"],
        "value": float(row[column]),
    }


def tensorboard_to_mlflow(logdir: str, store: str, experiment: str, run_name: str) -> str:
    """Copy every scalar of the TensorBoard run in ``logdir`` into a new MLflow run."""
    from mlflow.entities import Metric
    from tbparse import SummaryReader

    scalars = SummaryReader(logdir, extra_columns={"wall_time"}).scalars
    client = _client(store)
    run_id = client.create_run(_experiment_id(client, experiment), run_name=run_name).info.run_id
    points = [
        Metric(row.tag, float(row.value), int(row.wall_time * 1000), int(row.step))
        for row in scalars.itertuples()
    ]
    for start in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=points[start : start + 1000])
    client.set_terminated(run_id)
    return run_id


def log_to_neptune(
    run_name: str, params: dict, history: dict[str, list[float]], artifact: str
) -> list[str]:
    """Log one run with Neptune in offline mode; return the fields you wrote, sorted."""
    import neptune

    run = neptune.init_run(project="course/lesson08", mode="offline", name=run_name)
    try:
        run["parameters"] = params
        for name, values in history.items():
            for step, value in enumerate(values, start=1):
                run[name].append(value, step=step)
        field = f"artifacts/{Path(artifact).name}"
        run[field].upload(artifact)
    finally:
        run.stop()
    return sorted([f"parameters/{k}" for k in params] + list(history) + [field])
