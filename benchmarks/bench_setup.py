"""Set-up time: pip as the course installed before (unpinned) against uv from uv.lock.

Each way installs the course with its dev extras into a fresh venv twice: first with an
empty package cache (cold: everything downloaded), then again into another fresh venv with
the cache the first install filled (warm). Both ways talk to the same registry (pip's local
mirrors and find-links are switched off). The UI-asset steps (post-install.d) are not timed:
they are the same for both ways. Target: uv from a warm cache <= 90 s; the cold figure is
reported.

Run: .venv/bin/python benchmarks/bench_setup.py [--keep] [--uv-only]   (about 20 min, ~13 GB of
disk; --uv-only skips pip's way: a few minutes)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = os.environ.get("PYTHON", "python3")
TARGET_WARM_S = 90.0


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.update(extra)
    return env


def _run(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds


def pip_install(venv: Path, cache: Path) -> float:
    """What scripts/install-python.sh did before the lock: venv, pip, an unpinned install."""
    env = _env(PIP_CACHE_DIR=str(cache))
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    t = _run([PYTHON, "-m", "venv", str(venv)], env)
    t += _run(pip + ["install", "-q", "--upgrade", "pip", "setuptools<81", "wheel"], env)
    t += _run(pip + ["install", "-q", "--no-build-isolation", "-e", ".[dev]"], env)
    return t


def uv_sync(venv: Path, cache: Path) -> float:
    """What scripts/install-python.sh does now: uv sync --frozen from uv.lock, compiling the
    bytecode (which pip does by default and uv does not)."""
    uv = ROOT / ".tools" / "uv" / "bin" / "uv"
    if not uv.exists():
        subprocess.run(["bash", "scripts/uv.sh", "--version"], cwd=ROOT, check=True)
    env = _env(UV_CACHE_DIR=str(cache), UV_PROJECT_ENVIRONMENT=str(venv))
    cmd = [str(uv), "sync", "--frozen", "--extra", "dev", "--compile-bytecode", "--python", PYTHON]
    return _run(cmd, env)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    keep = "--keep" in sys.argv
    ways = (("pip (before)", pip_install), ("uv sync (uv.lock)", uv_sync))
    if "--uv-only" in sys.argv:  # pip's way takes ~20 min: measure uv alone
        ways = ways[1:]
    work = Path(tempfile.mkdtemp(prefix="bench-setup-", dir=os.environ.get("BENCH_DIR")))
    results: dict[tuple[str, str], float] = {}
    try:
        for name, install in ways:
            cache = work / f"cache-{install.__name__}"
            for temperature in ("cold", "warm"):
                venv = work / f"venv-{install.__name__}-{temperature}"
                seconds = install(venv, cache)
                results[(name, temperature)] = seconds
                print(f"{name:<20} {temperature} cache: {seconds:6.1f} s", flush=True)
                shutil.rmtree(venv, ignore_errors=True)
            if not keep:
                shutil.rmtree(cache, ignore_errors=True)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'':<20} {'cold':>8} {'warm':>8}")
    for name, _ in ways:
        cold, warm = results[(name, "cold")], results[(name, "warm")]
        print(f"{name:<20} {cold:7.1f}s {warm:7.1f}s")
    uv_w, uv_c = results[("uv sync (uv.lock)", "warm")], results[("uv sync (uv.lock)", "cold")]
    if ("pip (before)", "warm") in results:
        pip_w, pip_c = results[("pip (before)", "warm")], results[("pip (before)", "cold")]
        print(f"speed-up: {pip_c / uv_c:.1f}x cold, {pip_w / uv_w:.1f}x warm")
    ok = uv_w <= TARGET_WARM_S
    print(f"uv from a warm cache {uv_w:.1f} s, target <= {TARGET_WARM_S:g} s: {_verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
