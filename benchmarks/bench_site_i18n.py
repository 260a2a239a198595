"""The bilingual site's cost: ``mkdocs build`` English only vs English + Korean (target <= 1.3x).

Both builds render the same executed notebooks (nothing is executed: run the lessons first).
Each mode is built twice into a temporary folder: a cold build with an empty mkdocs-jupyter
cache, then a warm one (what ``make run`` does the second time). Prints wall and CPU seconds
(CPU is the fairer number on a shared machine) and the ratios.

Run: .venv/bin/python benchmarks/bench_site_i18n.py [LESSON_IDS, e.g. 01,07; default all]
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")


def build(site: Path, languages: str, cache: Path, lessons: str) -> tuple[float, float]:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONWARNINGS="ignore")
    env.update(LESSONLIB_SITE_LANGUAGES=languages, LESSONLIB_DOCS_LESSONS=lessons)
    env.pop("MPLBACKEND", None)
    config = cache / "mkdocs.yml"
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    text = text.replace("cache_dir: build/cache/mkdocs-jupyter", f"cache_dir: {cache / 'nb'}")
    text = text.replace("docs_dir: docs", f"docs_dir: {ROOT / 'docs'}")
    config.write_text(text.replace("lessonlib/site/", f"{ROOT}/lessonlib/site/"), "utf-8")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    cmd = [PY, "-m", "mkdocs", "build", "--quiet", "-f", str(config), "--site-dir", str(site)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"mkdocs build ({languages}) failed:\n{proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    lessons = sys.argv[1] if len(sys.argv) > 1 else ""
    results = {}
    for languages in ("en", "en,ko"):
        with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
            cache = Path(tmp)
            for run in ("cold", "warm"):
                wall, cpu = build(cache / run, languages, cache, lessons)
                results[languages, run] = (wall, cpu)
                print(f"{languages:6} {run}: {wall:6.1f} s wall, {cpu:6.1f} s CPU", flush=True)
    for run in ("cold", "warm"):
        (w_en, c_en), (w_ko, c_ko) = results["en", run], results["en,ko", run]
        print(
            f"{run}: en+ko / en = {w_ko / w_en:.2f}x wall, {c_ko / c_en:.2f}x CPU (target <= 1.3x)"
        )


if __name__ == "__main__":
    main()
