"""mkdocs hooks: add the lesson pages (executed notebooks) to the site, its nav and its assets.

Named in mkdocs.yml under ``hooks:``. ``on_files`` runs before mkdocs-jupyter's own
``on_files`` (higher priority) so the plugin picks the generated notebooks up and renders them
(``execute: false``: they were executed by ``lessonlib run``). The page's table of contents
is rebuilt from its rendered headings (so code in a heading stays in the TOC), the notebook
template's empty MathJax loader is dropped (KaTeX, installed locally at set-up, renders the
math), and each lesson's executed notebook is copied next to its page for download.
"""

from __future__ import annotations

import html as html_lib
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File
from mkdocs.structure.toc import get_toc

from lessonlib.course.runner import notebook_path
from lessonlib.paths import build_dir
from lessonlib.site.build import (
    LESSON_DOCS,
    lessons_table_markdown,
    rerun_stale_lessons_while_serving,
    write_lesson_pages,
)

_LESSONS_MARK = "<!-- lessons-table -->"
_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
_TOC_DEPTH = 3


def site_assets_dir() -> Path:
    """Assets installed at set-up (never committed): ``<venv>/share/lessonlib/site``.

    ``scripts/post-install.d/60-katex-assets.sh`` puts KaTeX in its ``assets/katex/``.
    """
    return Path(sys.prefix) / "share" / "lessonlib" / "site"


def katex_dir() -> Path:
    return site_assets_dir() / "assets" / "katex"


def on_config(config):
    rerun_stale_lessons_while_serving()  # `lessonlib docs --serve` after a lesson was saved
    pages = write_lesson_pages()
    entries = [
        {f"{lesson.id} — {lesson.title}": f"{LESSON_DOCS}/{path.name}"} for lesson, path in pages
    ]
    for item in config["nav"] or []:
        if isinstance(item, dict) and "Lessons" in item:
            item["Lessons"] = entries
    config["extra"]["lesson_pages"] = [str(path) for _, path in pages]
    config["extra"]["lesson_notebooks"] = {
        f"{LESSON_DOCS}/{path.name}": str(notebook_path(lesson)) for lesson, path in pages
    }
    if (katex_dir() / "katex.min.js").is_file():
        config["extra_css"].insert(0, "assets/katex/katex.min.css")
        config["extra_javascript"][:0] = [
            "assets/katex/katex.min.js",
            "assets/katex/contrib/auto-render.min.js",
        ]
    else:
        print(
            "math will show as LaTeX source: KaTeX is not installed "
            "(run: bash scripts/post-install.d/60-katex-assets.sh .venv)",
            file=sys.stderr,
        )
    return config


@event_priority(100)
def on_files(files, config):
    # A plain File rooted in build/docs_src (not File.generated): mkdocs-jupyter wraps
    # files and needs a real src_dir to find the notebook it renders.
    src_dir = str(build_dir("docs_src"))
    for path in config["extra"]["lesson_pages"]:
        name = path.rsplit("/", 1)[-1]
        files.append(
            File(f"{LESSON_DOCS}/{name}", src_dir, config["site_dir"], config["use_directory_urls"])
        )
    assets = site_assets_dir()
    if (katex_dir() / "katex.min.js").is_file():
        for path in sorted(katex_dir().rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                rel = path.relative_to(assets).as_posix()
                files.append(
                    File(rel, str(assets), config["site_dir"], config["use_directory_urls"])
                )
    return files


def on_page_markdown(markdown, page, config, files):
    if _LESSONS_MARK in markdown:
        markdown = markdown.replace(_LESSONS_MARK, lessons_table_markdown())
    return markdown


class _Headings(HTMLParser):
    """Collect (level, id, html) of h1..h6 with an id, without their ¶ anchor links: the text,
    escaped, with its ``<code>`` spans kept (the TOC shows `grad_fn` as code, as the heading)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str, str]] = []
        self._current: list | None = None
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if re.fullmatch(r"h[1-6]", tag) and attrs.get("id"):
            self._current = [int(tag[1]), attrs["id"], ""]
        elif (
            self._current is not None and tag == "a" and "anchor-link" in (attrs.get("class") or "")
        ):
            self._skip += 1
        elif self._current is not None and tag == "code" and not self._skip:
            self._current[2] += "<code>"

    def handle_endtag(self, tag):
        if self._current is not None and tag == "a" and self._skip:
            self._skip -= 1
        elif self._current is not None and tag == "code" and not self._skip:
            self._current[2] += "</code>"
        elif self._current is not None and tag == f"h{self._current[0]}":
            level, ident, text = self._current
            self.found.append((level, ident, " ".join(text.split())))
            self._current = None

    def handle_data(self, data):
        if self._current is not None and not self._skip:
            self._current[2] += html_lib.escape(data, quote=False)


def toc_tokens(html: str, depth: int = _TOC_DEPTH) -> list[dict]:
    """Nested TOC tokens (as Python-Markdown makes them) from a page's rendered headings."""
    parser = _Headings()
    parser.feed(html)
    root: list[dict] = []
    stack: list[dict] = []
    for level, ident, text in parser.found:
        if level > depth:
            continue
        token = {"level": level, "id": ident, "name": text, "children": []}
        while stack and stack[-1]["level"] >= level:
            stack.pop()
        (stack[-1]["children"] if stack else root).append(token)
        stack.append(token)
    return root


def on_page_content(html, page, config, files):
    if page.file.src_path not in config["extra"]["lesson_notebooks"]:
        return html
    html = _MATHJAX.sub("", html)
    page.toc = get_toc(toc_tokens(html))
    return html


def on_post_build(config):
    site = Path(config["site_dir"])
    for page_src, executed in config["extra"]["lesson_notebooks"].items():
        slug = Path(page_src).stem
        target = site / LESSON_DOCS / slug / Path(executed).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(executed, target)


def on_pre_build(config):
    # Every page notebook (English, and Korean when on) rendered two at a time into
    # mkdocs-jupyter's cache, before the build renders pages one by one.
    from lessonlib.site.prewarm import prewarm

    pages = list(config["extra"].get("lesson_pages", []))
    pages += config["extra"].get("ko_lesson_pages", [])
    prewarm(config, [Path(p) for p in pages])
