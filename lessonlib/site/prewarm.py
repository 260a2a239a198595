"""Render the lesson pages' notebooks to HTML two at a time, into mkdocs-jupyter's cache.

mkdocs-jupyter converts each notebook page (nbconvert, about half a second a page) one after
another while mkdocs builds. With 18 pages (9 lessons, English and Korean) that is ~11 s
of a fresh site build on one CPU. Before the build walks its pages, this module converts
the pages missing from the plugin's cache in a small process pool and writes each result
exactly where, and as, the plugin would (same key, same JSON); the plugin then finds every
page in its cache. Should the plugin's internals ever differ from what this expects, nothing
is written and the plugin converts the pages itself, as before.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

PLUGIN = "mkdocs-jupyter"


def _plugin(config):
    try:
        return config["plugins"][PLUGIN]
    except (KeyError, TypeError):
        return None


def _options(cfg) -> dict:
    """The keyword arguments the plugin passes to ``convert.nb2html``."""
    return {
        "execute": cfg["execute"],
        "kernel_name": cfg["kernel_name"],
        "theme": cfg["theme"],
        "allow_errors": cfg["allow_errors"],
        "show_input": cfg["show_input"],
        "no_input": cfg["no_input"],
        "no_prompt": cfg["no_prompt"],
        "remove_tag_config": cfg["remove_tag_config"],
        "highlight_extra_classes": cfg["highlight_extra_classes"],
        "include_requirejs": cfg["include_requirejs"],
        "custom_mathjax_url": cfg["custom_mathjax_url"],
    }


def _convert(job: tuple[str, str, dict, int]) -> str:
    """Convert one notebook and write the plugin's cache entry for it (in a worker process)."""
    from mkdocs_jupyter import convert
    from mkdocs_jupyter.plugin import _get_nb_toc_tokens

    nb_path, cache_path, options, toc_depth = job
    body = convert.nb2html(nb_path, **options)
    toc_tokens, title = _get_nb_toc_tokens(nb_path, toc_depth)
    target = Path(cache_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    payload = {"content": body, "toc_tokens": toc_tokens, "title": title}
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(tmp, target)
    return nb_path


def prewarm(config, notebooks: list[Path], jobs: int | None = None) -> int:
    """Convert the ``notebooks`` the plugin's cache lacks, ``jobs`` at a time; return how many."""
    plugin = _plugin(config)
    if plugin is None or not notebooks:
        return 0
    try:
        from mkdocs_jupyter.plugin import _compute_cache_key, _get_cache_path

        cfg = plugin.config
        if not cfg["cache"] or cfg["execute"]:
            return 0
        todo = []
        for nb in notebooks:
            path = os.path.normpath(str(nb))
            key = _compute_cache_key(path, cfg, cfg["execute"])
            cache = _get_cache_path(cfg["cache_dir"], key)
            if not cache.exists():
                todo.append((path, str(cache), _options(cfg), cfg["toc_depth"]))
    except (ImportError, AttributeError, KeyError, TypeError, OSError):
        return 0  # another mkdocs-jupyter: it converts its pages itself
    if len(todo) < 2:
        return 0
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from lessonlib.course.runner import default_jobs

    workers = min(jobs or default_jobs(), len(todo))
    if workers < 2:
        return 0
    # fork: the workers start with mkdocs-jupyter and nbconvert already imported (spawned
    # ones spend seconds importing them again).
    context = multiprocessing.get_context("fork")
    done = 0
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for _ in pool.map(_convert, todo):
                done += 1
    except Exception:  # noqa: BLE001 - the plugin converts whatever is still missing
        pass
    return done
