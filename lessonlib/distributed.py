"""Run one function in several CPU processes joined by a gloo process group (like torchrun).

``run_ranks(path, name, world_size, *args)`` loads the function ``name`` from the Python
file ``path`` in each process, after ``torch.distributed.init_process_group("gloo")``,
calls ``fn(rank, world_size, *args)`` and returns every rank's return value. Each rank is
a fresh ``python -m lessonlib.distributed`` process, so this works from pytest, a script
or a notebook alike (no pickling of functions, no re-running of ``__main__``). A free
port is picked for every run.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any


class RankFailed(RuntimeError):
    """A rank raised an exception that could not be sent back as itself."""


def run_ranks(
    path: Path | str,
    name: str,
    world_size: int,
    *args: Any,
    rank_args: list[tuple] | None = None,
    timeout: float = 120,
) -> list[Any]:
    """Call function ``name`` of file ``path`` in ``world_size`` processes; return their results.

    Rank ``r`` calls ``fn(r, world_size, *args, *rank_args[r])``. Results come back in rank
    order. If a rank raises, the same exception is raised here (the others are stopped).
    """
    if rank_args is not None and len(rank_args) != world_size:
        raise ValueError(f"rank_args has {len(rank_args)} entries for {world_size} ranks")
    from lessonlib.web import free_port

    path = Path(path).resolve()
    with tempfile.TemporaryDirectory(prefix="ranks-") as tmp:
        work = Path(tmp)
        (work / "args.pkl").write_bytes(pickle.dumps((args, rank_args)))
        port = free_port()
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        env["WORLD_SIZE"] = str(world_size)
        procs = []
        for rank in range(world_size):
            cmd = [sys.executable, "-m", "lessonlib.distributed", str(path), name, str(work)]
            procs.append(subprocess.Popen(cmd, env=dict(env, RANK=str(rank))))
        _wait_all(procs, timeout)
        results = []
        for rank in range(world_size):
            out = work / f"rank{rank}.pkl"
            if not out.exists():
                raise RankFailed(
                    f"rank {rank} ended without a result (exit {procs[rank].returncode})."
                )
            ok, value = pickle.loads(out.read_bytes())
            if not ok:
                raise value
            results.append(value)
        return results


def _wait_all(procs: list[subprocess.Popen], timeout: float) -> None:
    """Wait for every rank; once one fails, give the others a moment, then stop them."""
    deadline = time.monotonic() + timeout
    failed_at = None
    while any(p.poll() is None for p in procs):
        now = time.monotonic()
        if failed_at is None and any(p.returncode not in (None, 0) for p in procs):
            failed_at = now
        if now > deadline or (failed_at is not None and now - failed_at > 5):
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            break
        time.sleep(0.05)


def _rank_main(path: str, name: str, work: str) -> int:
    import importlib.util
    from datetime import timedelta

    import torch.distributed as dist

    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    out = Path(work) / f"rank{rank}.pkl"
    try:
        args, rank_args = pickle.loads((Path(work) / "args.pkl").read_bytes())
        if rank_args is not None:
            args = (*args, *rank_args[rank])
        spec = importlib.util.spec_from_file_location(f"ranks_{Path(path).stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dist.init_process_group(
            "gloo", rank=rank, world_size=world_size, timeout=timedelta(seconds=60)
        )
        try:
            value = getattr(module, name)(rank, world_size, *args)
        finally:
            dist.destroy_process_group()
        payload = (True, value)
    except BaseException as err:  # sent back to the parent, which re-raises it
        where = traceback.extract_tb(err.__traceback__)[-1]
        err.add_note(f"(raised in rank {rank}, {Path(where.filename).name}:{where.lineno})")
        payload = (False, err)
    try:
        data = pickle.dumps(payload)
    except Exception:
        text = "".join(traceback.format_exception(payload[1]))
        data = pickle.dumps((False, RankFailed(f"rank {rank} failed:\n{text}")))
    out.write_bytes(data)
    return 0 if payload[0] else 1


if __name__ == "__main__":
    sys.exit(_rank_main(*sys.argv[1:4]))
